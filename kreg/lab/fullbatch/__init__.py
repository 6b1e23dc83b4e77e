"""The course's football network trained full-batch: many gradient steps per compiled call.

Four engines train the same model and are tested against each other:

- the numpy reference (`kreg.reference.train`, in the core: the course's own loop);
- `"keras"`: the Keras model's own call, loss, tape and optimizer (`keras_step`);
- `"fused"`: the step written out as matrix products for football-style models (`fused`);
- stacked: K such models in one compiled loop (`stacked.fit_full_batch_stacked`).

`fit_full_batch(model, ...)` picks between "keras" and "fused" (its `engine`
argument); all of them share the model description (`description`) and the
interval loop (`loop`).
"""

from kreg.lab.fullbatch.fit import fit_full_batch
from kreg.lab.fullbatch.fused import ENGINES
from kreg.lab.fullbatch.loop import FullBatchHistory, IntervalProgress, check_loop_arguments
from kreg.lab.fullbatch.precision import PRECISIONS, floatx_scope, precision_scope
from kreg.lab.fullbatch.stacked import STACK_FROM, fit_full_batch_stacked

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "STACK_FROM",
    "FullBatchHistory",
    "IntervalProgress",
    "check_loop_arguments",
    "fit_full_batch",
    "fit_full_batch_stacked",
    "floatx_scope",
    "precision_scope",
]
