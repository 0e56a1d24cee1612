"""`python -m keras_srcrm` is the `keras-srcrm` command."""

import sys

from keras_srcrm.cli import main

sys.exit(main())
