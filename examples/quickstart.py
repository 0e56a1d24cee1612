"""The README's main job (grows with the library): prints the environment."""

import argparse

import keras

import keras_srcrm


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", default="runs/demo")
    args = parser.parse_args()
    print(
        f"keras-srcrm {keras_srcrm.__version__} on keras {keras.__version__} "
        f"({keras.backend.backend()}); outputs go to {args.output_dir}"
    )


if __name__ == "__main__":
    main()
