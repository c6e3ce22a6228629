"""QONNX -> streamlined FINN graph: integer MatMuls/XNOR-popcounts and MultiThresholds."""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

from onebit.flows.add_past_matmul import MoveChannelAddPastFlattenMatMul
from onebit.flows.and_popcount import ConvertBipolarByBinaryMatMul
from onebit.flows.bipolar_pad import AbsorbBipolarPadIntoIm2Col, check_no_bipolar_zero_padding
from onebit.flows.channel_sign import AbsorbChannelSignIntoLinear
from onebit.flows.one_channel_conv import DenseOneChannelConv
from onebit.flows.passes import run_passes
from onebit.flows.pool_threshold import MoveMaxPoolPastThreshold
from onebit.flows.precision_gate import LowerPGToMatMul
from onebit.flows.ternary_sign import AbsorbSignIntoBinaryWeights
from onebit.flows.thermometer import (
    ConvertThermometerMatMulToXnorPopcount,
    MoveTransposeBeforeThermometer,
)
from onebit.flows.zero_pad import (
    HoistPadCorrection,
    SinkPadCorrectionPastSignMul,
    ZeroPadBipolarConv,
)


def to_finn(model: ModelWrapper) -> ModelWrapper:
    """QONNX (Quant/BipolarQuant nodes) to FINN-ONNX (MultiThreshold activations).

    A max-pool right before an activation moves after it: max commutes with any
    non-decreasing function, so BatchNorm -> MaxPool -> threshold (negative BatchNorm scales
    included) is BatchNorm -> threshold -> MaxPool, which streamlines like any conv (a
    multi-bit activation's offset, the Add after its MultiThreshold, goes into the threshold
    first, so that it moves along). A conv that zero-pads a bipolar input becomes -1 padding
    plus an exact correction (`onebit.flows.zero_pad`).
    """
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline.absorb import AbsorbScalarBiasIntoMultiThreshold
    from finn.transformation.streamline.reorder import MoveMaxPoolPastMultiThreshold

    model = run_passes(model, [InferShapes(), InferDataTypes(), ConvertQONNXtoFINN(),
                               AbsorbScalarBiasIntoMultiThreshold(),
                               MoveMaxPoolPastMultiThreshold(), InferDataTypes(),
                               GiveUniqueNodeNames(), GiveReadableTensorNames()])
    model = run_passes(model, [ZeroPadBipolarConv()])
    check_no_bipolar_zero_padding(model)
    return model


def streamline(model: ModelWrapper) -> ModelWrapper:
    """Fold scales, biases and BatchNorm into thresholds; lower convs; binary MatMuls to XNOR.

    Zero-padding corrections move to their conv's MatMul (`HoistPadCorrection`). FracBNN's
    gated layers lower like convs and a thermometer's bits become XNOR codes
    (`flows/precision_gate.py`, `flows/thermometer.py`).
    """
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.absorb import (
        Absorb1BitMulIntoConv,
        AbsorbConsecutiveTransposes,
        AbsorbScalarBiasIntoMultiThreshold,
        AbsorbScalarMulAddIntoTopK,
        AbsorbTransposeIntoMultiThreshold,
    )
    from finn.transformation.streamline.reorder import (
        MakeMaxPoolNHWC,
        MoveScalarLinearPastInvariants,
        MoveTransposePastFork,
        MoveTransposePastJoinAdd,
    )
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds

    return run_passes(model, [
        # a multi-bit activation's -1 offset (Quant -> MultiThreshold + Add) becomes the
        # threshold's out_bias before scalar moves can carry the Add away and leave a signed
        # datatype on 0-based outputs
        AbsorbScalarBiasIntoMultiThreshold(),
        # conv -> MaxPool -> BatchNorm -> activation: threshold before the pool
        MoveMaxPoolPastThreshold(),
        AbsorbChannelSignIntoLinear(),
        MoveChannelAddPastFlattenMatMul(),
        MoveScalarLinearPastInvariants(),
        Streamline(),
        SinkPadCorrectionPastSignMul(),
        Absorb1BitMulIntoConv(),
        AbsorbSignIntoBinaryWeights(),
        LowerConvsToMatMul(),
        LowerPGToMatMul(),
        DenseOneChannelConv(),
        MakeMaxPoolNHWC(),
        AbsorbTransposeIntoMultiThreshold(),
        ConvertBipolarByBinaryMatMul(),
        ConvertThermometerMatMulToXnorPopcount(),
        ConvertBipolarMatMulToXnorPopcount(),
        HoistPadCorrection(),
        AbsorbBipolarPadIntoIm2Col(),
        MoveTransposeBeforeThermometer(),
        AbsorbConsecutiveTransposes(),
        Streamline(),
        # a top-k output (--top-k): positive scalar scales and biases do not change the order
        AbsorbScalarMulAddIntoTopK(),
        # residual blocks: layout transposes through the shortcut's fork and add, then away
        MoveTransposePastJoinAdd(),
        MoveTransposePastFork(),
        AbsorbConsecutiveTransposes(),
        AbsorbTransposeIntoMultiThreshold(),
        AbsorbConsecutiveTransposes(),
        RoundAndClipThresholds(),
        InferDataLayouts(),
        GiveUniqueNodeNames(),
        GiveReadableTensorNames(),
    ])
