"""The SRM + CRM segmentation model."""

import keras

from keras_srcrm.layers.conv_and_norm import use_copy_free_layers
from keras_srcrm.layers.conv_bn_act import ConvBNAct
from keras_srcrm.layers.decoder import SRCRMDecoder
from keras_srcrm.layers.resize_like import ResizeLike
from keras_srcrm.models import preset_io
from keras_srcrm.models.backbones import backbone_preprocessing
from keras_srcrm.models.backbones import load_backbone
from keras_srcrm.models.backbones import pyramid_feature_extractor
from keras_srcrm.models.backbones.loader import converter_preset
from keras_srcrm.models.segmenter_presets import SEGMENTER_PRESETS
from keras_srcrm.training.fit import compile_arguments
from keras_srcrm.utils.validation import check_choice
from keras_srcrm.utils.validation import check_num_classes
from keras_srcrm.utils.validation import check_number
from keras_srcrm.utils.validation import check_positive_int

OUTPUT_ACTIVATIONS = (None, "softmax")


@keras.saving.register_keras_serializable(package="keras_srcrm")
class SRCRMSegmenter(keras.Model):
    """Semantic segmentation network with Semantic and Contextual Refinements.

    A functional model: raw RGB images in `[0, 255]` -> the backbone's input
    normalisation -> the backbone's stride 4, 8, 16 and 32 features ->
    `SRCRMDecoder` (a CRM on top of the pyramid, an SRM at each top-down step,
    multi-level fusion) -> dropout and a 1x1 classifier -> bilinear resize to
    the input size. Any input size works, including sizes that 32 does not
    divide; the logits are float32 also under mixed precision.

    With `auxiliary_heads=True` the model also returns deep-supervision logits
    from the pyramid levels at strides 8, 16 and 32 (each a 3x3
    conv-BN-ReLU and a 1x1 classifier, resized to the input size), and its
    output is a dict `{"segmentation", "aux_1", "aux_2", "aux_3"}`; build the
    same weights without them (`auxiliary_heads=False`) for inference, so
    that `predict` returns one tensor.

    Ablations are one flag away: `use_srm=False` replaces the SRMs by bilinear
    FPN steps, `use_crm=False` replaces the CRM by a 1x1 projection of the
    last stage; both False is a plain FPN baseline.

    On PyTorch, the backbone's `keras.layers.Conv2D` and `BatchNormalization`
    layers are switched in place to `keras_srcrm.layers.conv_and_norm`'s
    subclasses, which give the same results without Keras's layout copies.

    Like a KerasHub task, the model compiles itself with defaults that read
    its own `num_classes`, `output_activation` and auxiliary heads
    (`model.compile()`, see `compile`), and a trained model saves to and
    loads from a preset directory (`save_to_preset`, `from_preset`).

    Args:
        backbone: A backbone `keras.Model`: a KerasHub backbone
            (`pyramid_outputs`), a KerasCV backbone (`pyramid_level_inputs`) or
            a `keras.applications` ResNet / EfficientNetV2 / ConvNeXt /
            MobileNetV3 built with `include_top=False`. See
            `keras_srcrm.models.load_backbone` to build one from a preset.
        num_classes: Number of classes of the per-pixel classifier.
        decoder_filters: Channels of the decoder. Defaults to 128.
        use_srm: Whether the top-down path uses SRMs. Defaults to True.
        use_crm: Whether the top of the pyramid is the CRM. Defaults to True.
        srm_options: Optional dict of extra `SemanticRefinementModule`
            arguments.
        crm_options: Optional dict of extra `ContextualRefinementModule`
            arguments.
        align_corners: Corner convention of every resize of the decoder and
            of the heads' resize to the input size. Defaults to False, as
            `keras.ops.image.resize`; True matches SFNet.
        auxiliary_heads: Whether to add deep-supervision heads (see above).
        output_activation: None for logits (the default), or `"softmax"`
            for per-class probabilities.
        dropout: Dropout rate before the classifiers. Defaults to 0.1.
        preprocessing: `"auto"` (the default) adds the input normalisation the
            backbone's family expects for `[0, 255]` RGB inputs
            (`keras_srcrm.models.backbone_preprocessing(backbone)`); None adds
            nothing (feed what the backbone expects); or a Keras layer to use
            instead, e.g. `backbone_preprocessing(backbone, preset=...)` for
            a KerasHub preset whose image converter differs from ImageNet's
            (`from_preset` does this for you).
        kernel_regularizer: Optional regularizer of the decoder and heads.
        **kwargs: Base model arguments, e.g. `name`.

    Example:

    ```python
    backbone = keras_srcrm.models.backbone_from_config("hub_resnet18")
    model = keras_srcrm.models.SRCRMSegmenter(backbone, num_classes=19)
    logits = model.predict(np.zeros((1, 512, 1024, 3)))  # (1, 512, 1024, 19)
    ```

    Reference:
        Wang et al., "A Deep Semantic Segmentation Network with Semantic and
        Contextual Refinements", arXiv:2412.08671, 2024.
    """

    def __init__(
        self,
        backbone,
        num_classes,
        decoder_filters=128,
        use_srm=True,
        use_crm=True,
        srm_options=None,
        crm_options=None,
        align_corners=False,
        auxiliary_heads=False,
        output_activation=None,
        dropout=0.1,
        preprocessing="auto",
        kernel_regularizer=None,
        **kwargs,
    ):
        num_classes = check_num_classes(num_classes)
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        check_positive_int("decoder_filters", decoder_filters)
        check_number("dropout", dropout, minimum=0.0, maximum=1.0)
        # === Layers ===
        extractor = pyramid_feature_extractor(backbone)
        if keras.backend.backend() == "torch":
            # Same weights and results, without Keras's layout copies.
            use_copy_free_layers(backbone)
        if isinstance(preprocessing, str):
            if preprocessing != "auto":
                raise ValueError(
                    "`preprocessing` must be 'auto', None or a Keras layer. "
                    f"Received: preprocessing={preprocessing!r}"
                )
            preprocessing = backbone_preprocessing(backbone, name="preprocessing")
        regularizer = keras.regularizers.get(kernel_regularizer)
        decoder = SRCRMDecoder(
            decoder_filters,
            use_srm=use_srm,
            use_crm=use_crm,
            srm_options=srm_options,
            crm_options=crm_options,
            align_corners=align_corners,
            return_pyramid=auxiliary_heads,
            kernel_regularizer=regularizer,
            name="decoder",
        )

        images = keras.Input(tuple(backbone.input_shape[1:]), name="images")

        def classifier(features, name):
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(features)
            logits = keras.layers.Conv2D(
                num_classes,
                1,
                kernel_regularizer=regularizer,
                name=f"{name}_classifier",
            )(x)
            # Resizing to the input in float32 gives float32 logits under
            # mixed precision too.
            logits = ResizeLike(
                align_corners=align_corners, dtype="float32", name=f"{name}_resize"
            )([logits, images])
            if output_activation is not None:
                logits = keras.layers.Activation(
                    output_activation, dtype="float32", name=f"{name}_activation"
                )(logits)
            return logits

        # === Functional Model ===
        x = preprocessing(images) if preprocessing is not None else images
        features = extractor(x)
        decoded = decoder(list(features))
        if auxiliary_heads:
            fused, pyramid = decoded
            outputs = {"segmentation": classifier(fused, "segmentation")}
            for index, level in enumerate(pyramid, start=1):
                level = ConvBNAct(
                    decoder_filters,
                    3,
                    kernel_regularizer=regularizer,
                    name=f"aux_{index}_conv",
                )(level)
                outputs[f"aux_{index}"] = classifier(level, f"aux_{index}")
        else:
            outputs = classifier(decoded, "segmentation")
        super().__init__(inputs=images, outputs=outputs, **kwargs)

        # === Config ===
        # Set after `super().__init__()`: under the torch backend a model
        # cannot hold a sub-model before `torch.nn.Module.__init__` has run.
        self.backbone = backbone
        self.num_classes = num_classes
        self.decoder_filters = decoder_filters
        self.use_srm = use_srm
        self.use_crm = use_crm
        self.srm_options = dict(srm_options or {})
        self.crm_options = dict(crm_options or {})
        self.align_corners = align_corners
        self.auxiliary_heads = auxiliary_heads
        self.output_activation = output_activation
        self.dropout = dropout
        self.preprocessing = preprocessing
        self.kernel_regularizer = regularizer

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        *,
        metrics="auto",
        loss_weights=None,
        ignore_label=255,
        aux_loss_weight=0.4,
        jit_compile="auto",
        **kwargs,
    ):
        """Configures the model for training, with segmentation defaults.

        As KerasHub's `ImageSegmenter.compile`, every argument has a default
        for this task, here read from the model itself:

        - `optimizer="auto"`: SGD, learning rate 0.01, momentum 0.9
          (`keras_srcrm.training.build_optimizer()`); a name such as
          `"adamw"` goes to `build_optimizer(name)`.
        - `loss="auto"`: `SegmentationCrossEntropy(ignore_label=...)`, with
          `from_logits=False` when the model outputs probabilities
          (`output_activation="softmax"`). With auxiliary heads, any single
          loss is applied to every output, weighted 1 for `"segmentation"`
          and `aux_loss_weight` for `"aux_1"`, ... (deep supervision).
        - `metrics="auto"`: `MeanIoU(num_classes)` and
          `PixelAccuracy(num_classes)` on the main output, with the same
          `ignore_label`.
        - `jit_compile="auto"`: XLA on JAX, and on TensorFlow with a GPU or
          TPU (see `keras_srcrm.training.resolve_jit_compile`).

        Any explicit value is used as given (see
        `keras_srcrm.training.compile_arguments` for the details). With
        auxiliary heads the labels must be repeated per output
        (`keras_srcrm.losses.deep_supervision_targets`).

        Args:
            optimizer: `"auto"`, an optimizer name, or a Keras optimizer.
            loss: `"auto"`, a Keras loss, or a dict of losses per output.
            metrics: `"auto"`, None, a list of metrics, or a dict per output.
            loss_weights: Optional per-output loss weights.
            ignore_label: Label id left out of the default loss and metrics,
                or None. Defaults to 255.
            aux_loss_weight: Weight of each auxiliary loss. Defaults to 0.4.
            jit_compile: `"auto"` (default), True or False.
            **kwargs: Other `keras.Model.compile` arguments, e.g.
                `steps_per_execution`.

        Example:

        ```python
        model = SRCRMSegmenter.from_preset("srcrm_lite", num_classes=19)
        model.compile()  # SGD, cross-entropy ignoring 255, mIoU, XLA
        model.compile(
            optimizer=keras_srcrm.training.build_optimizer("adamw", 6e-5),
            loss=keras_srcrm.losses.CombinedLoss(
                [SegmentationCrossEntropy(), keras_srcrm.losses.DiceLoss()]
            ),
            metrics=[MeanIoU(19), MeanAccuracy(19), MeanDice(19)],
        )
        ```
        """
        arguments = compile_arguments(
            self,
            self.num_classes,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            loss_weights=loss_weights,
            ignore_label=ignore_label,
            aux_loss_weight=aux_loss_weight,
            jit_compile=jit_compile,
        )
        super().compile(**arguments, **kwargs)

    def make_train_function(self, force=False):
        # Without a distribution strategy, Keras on TensorFlow creates the
        # optimizer's slots inside the first trace of the train step, and a
        # tf.function that creates variables is traced a second time. Built
        # here, at the start of `fit` (the trainable set is final, as when
        # Keras builds it on JAX and torch), the step is traced once: a
        # small model's first fit took 37 % less time without XLA, 17 % with.
        self._build_optimizer()
        return super().make_train_function(force=force)

    def _build_optimizer(self):
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # What `keras.Model` does when it loads a compiled `.keras` file: the
        # saved arguments are explicit, so they skip the defaults above.
        config = keras.saving.deserialize_keras_object(config)
        super().compile(**config)
        if self.built:
            self._build_optimizer()

    def save_to_preset(
        self, preset_dir, *, class_names=None, palette=None, dataset=None, metrics=None
    ):
        """Saves the trained segmenter to a preset directory, to share it.

        The directory holds `segmenter.json` (the Keras config, backbone
        included), `segmenter.weights.h5` (all weights) and `metadata.json`
        (the class names, palette, dataset and metrics given here, the
        number of classes and of parameters, the versions and backend it was
        saved with, the date). All of it is JSON or a Keras weights file;
        `SRCRMSegmenter.from_preset(preset_dir)` loads it offline, on any
        backend, and `keras_srcrm.models.load_preset_metadata(preset_dir)`
        reads the metadata. The directory is created if needed, and files
        of an earlier preset in it are replaced. Compile state (optimizer,
        loss) is not saved: compile the loaded model again to train it.

        Args:
            preset_dir: The directory to write.
            class_names: Optional names of the `num_classes` classes. By
                default, those of `dataset` when it is a built-in dataset
                (`keras_srcrm.data.dataset_info`) with as many classes.
            palette: Optional `num_classes` RGB colours (ints in [0, 255]),
                e.g. `keras_srcrm.inference.default_palette(num_classes)`.
            dataset: Optional name of the training dataset, e.g.
                `"cityscapes"`.
            metrics: Optional dict of the metrics the model reached, e.g.
                `{"val_mean_iou": 0.78}`. By default, the last epoch's logs
                of the model's last `fit` (empty if it was never fit).

        Returns:
            The directory, as a string.

        Example:

        ```python
        model.fit(train, validation_data=val, epochs=100)
        model.save_to_preset("srcrm_lite_cityscapes", dataset="cityscapes")
        # Elsewhere, offline, on any backend:
        model = SRCRMSegmenter.from_preset("srcrm_lite_cityscapes")
        ```
        """
        return preset_io.save_preset(
            self,
            preset_dir,
            class_names=class_names,
            palette=palette,
            dataset=dataset,
            metrics=metrics,
        )

    @classmethod
    def from_preset(
        cls, preset, num_classes=None, *, load_weights=True, input_shape=None, **kwargs
    ):
        """Builds a segmenter from a saved preset, a named configuration or a
        backbone preset.

        `preset` is one of:

        - a directory written by `save_to_preset`: the trained segmenter,
          with its weights unless `load_weights=False`. `num_classes` may
          be omitted; a different `num_classes` (to fine-tune on another
          dataset) or other `kwargs` (e.g. `auxiliary_heads=True`) rebuild
          it with those arguments and keep the weights of every layer whose
          shapes still match, so a new classifier starts from scratch;
        - a name of `keras_srcrm.models.SEGMENTER_PRESETS` (`"srcrm_lite"`,
          `"srcrm_resnet50"`, ...): its backbone with ImageNet weights when
          `load_weights` is True (downloaded on first use), or the same
          architecture with random weights, offline, when it is False;
        - anything `keras_srcrm.models.load_backbone` accepts: a KerasHub or
          KerasCV preset name, a local preset directory (so a user offline
          can point at a folder), a `keras.applications` name or a named
          backbone configuration; the decoder gets its default arguments.

        The named configurations and backbone presets have no trained
        decoder: it starts from scratch.

        Args:
            preset: See above.
            num_classes: Number of classes; required except for a saved
                segmenter preset.
            load_weights: Whether to load the saved or pretrained weights.
            input_shape: Optional `(height, width, 3)` of the backbone input
                of a new segmenter; defaults to any size (a static square for
                MiT backbones). A saved segmenter keeps its own.
            **kwargs: `SRCRMSegmenter` arguments that override the preset's.

        Returns:
            A `SRCRMSegmenter`.

        Example:

        ```python
        # Online: ImageNet-pretrained ResNet-18.
        model = SRCRMSegmenter.from_preset("srcrm_lite", num_classes=19)
        # Offline: the same architecture, random weights.
        model = SRCRMSegmenter.from_preset(
            "srcrm_lite", num_classes=19, load_weights=False
        )
        # Any backbone preset, e.g. a local KerasHub preset directory.
        model = SRCRMSegmenter.from_preset("./my_resnet_preset", num_classes=19)
        # A trained segmenter saved with `save_to_preset`, as it was, or
        # as the start of a fine-tuning on 150 classes.
        model = SRCRMSegmenter.from_preset("./srcrm_lite_cityscapes")
        model = SRCRMSegmenter.from_preset("./srcrm_lite_cityscapes", 150)
        ```
        """
        if preset_io.is_segmenter_preset(preset):
            if input_shape is not None:
                raise ValueError(
                    "`input_shape` applies to a new segmenter; a saved segmenter "
                    f"preset keeps its own. Received: input_shape={input_shape!r} "
                    f"for the preset {str(preset)!r}"
                )
            return preset_io.load_preset(cls, preset, num_classes, load_weights, kwargs)
        if num_classes is None:
            raise ValueError(
                "`num_classes` must be given to build a new segmenter from "
                f"{preset!r} (only a saved segmenter preset knows its own). "
                "Received: num_classes=None"
            )
        backbone_args = {} if input_shape is None else {"input_shape": input_shape}
        spec = preset
        if preset in SEGMENTER_PRESETS:
            config = SEGMENTER_PRESETS[preset]
            spec = config.backbone if load_weights else config.offline_backbone
            kwargs = {**config.segmenter_kwargs(), **kwargs}
        backbone = load_backbone(spec, load_weights=load_weights, **backbone_args)
        if kwargs.get("preprocessing", "auto") == "auto":
            # The preset's own image converter, where it has one.
            kwargs["preprocessing"] = backbone_preprocessing(
                backbone, preset=converter_preset(spec), name="preprocessing"
            )
        return cls(backbone, num_classes, **kwargs)

    def inference_model(self):
        """Returns the network without its auxiliary heads, with the same weights.

        Train with `auxiliary_heads=True` for deep supervision, then predict,
        evaluate or export with this model, whose output is the single
        segmentation tensor. Without auxiliary heads, returns `self`.

        Returns:
            A `SRCRMSegmenter` holding a copy of the weights.
        """
        if not self.auxiliary_heads:
            return self
        config = self.get_config()
        config["auxiliary_heads"] = False
        model = type(self).from_config(config)
        trained = {layer.name: layer for layer in self.layers}
        for layer in model.layers:
            layer.set_weights(trained[layer.name].get_weights())
        return model

    def get_config(self):
        # A functional config would list the layers; this model is rebuilt
        # from its constructor arguments, like KerasHub's tasks.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "decoder_filters": self.decoder_filters,
            "use_srm": self.use_srm,
            "use_crm": self.use_crm,
            "srm_options": self.srm_options,
            "crm_options": self.crm_options,
            "align_corners": self.align_corners,
            "auxiliary_heads": self.auxiliary_heads,
            "output_activation": self.output_activation,
            "dropout": self.dropout,
            "preprocessing": keras.saving.serialize_keras_object(self.preprocessing)
            if self.preprocessing is not None
            else None,
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("preprocessing") is not None:
            config["preprocessing"] = keras.saving.deserialize_keras_object(
                config["preprocessing"]
            )
        return cls(**config)
