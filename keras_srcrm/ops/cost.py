"""The hook through which this package's ops report their cost.

`keras_srcrm.analysis.count_flops` counts Keras's own ops by wrapping them;
the bilinear sampling written here (`flow_warp`, `grid_sample`,
`resize_bilinear`) calls `report_bilinear_sampling` with its output instead.
Outside a count no listener is set, so the call does nothing and changes
neither results nor traced graphs.
"""

import contextlib
import threading


class _Listener(threading.local):
    callback = None
    hidden = 0


_LISTENER = _Listener()


def report_bilinear_sampling(samples, op):
    """Reports the output of a bilinear sampling op to the active listener.

    Args:
        samples: The op's output tensor (symbolic during a count).
        op: The op's name, e.g. `"flow_warp"`.
    """
    callback = _LISTENER.callback
    if callback is not None:
        callback(samples, op)


@contextlib.contextmanager
def hidden_ops():
    """Keras ops called inside the block belong to an op that reports its own
    cost (e.g. `resize_bilinear`'s matrix products): a count skips them."""
    _LISTENER.hidden += 1
    try:
        yield
    finally:
        _LISTENER.hidden -= 1


def ops_hidden():
    """Whether this thread is inside `hidden_ops()`."""
    return _LISTENER.hidden > 0


@contextlib.contextmanager
def listening(callback):
    """Sets `callback(samples, op)` as this thread's listener inside the block."""
    if _LISTENER.callback is not None:
        raise RuntimeError("Another listener is already set in this thread.")
    _LISTENER.callback = callback
    try:
        yield
    finally:
        _LISTENER.callback = None
