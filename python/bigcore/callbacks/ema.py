"""SwapEMAWeights: Keras 3's callback that evaluates (and predicts) with the optimizer's moving
average of the weights (use_ema=True) and trains with the weights themselves.

The swaps run natively over the parameter arena (Optimizer.swap_ema_weights): weights and averages
trade places in place, as Keras's callback does, so nothing is copied through Python."""

from bigcore.callbacks.base import Callback


class SwapEMAWeights(Callback):
    """Swaps the model's weights and the optimizer's EMA weights before evaluation (and prediction)
    and swaps them back after it. With swap_on_epoch=True it also swaps at each epoch's end (so
    ModelCheckpoint and the like see the EMA weights) and back at the next epoch's start; after the
    last epoch the averages take the weights' values, as Keras's finalize does."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self):
        optimizer = self.model.optimizer
        if not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                             f"Received: use_ema={getattr(optimizer, 'use_ema', None)}")
        return optimizer

    def _swap_variables(self):
        self._optimizer().swap_ema_weights()

    def _finalize_ema_values(self):
        self._optimizer().assign_ema_from_weights()

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3's condition, kept for parity: after a predict the EMA weights stay in the model
        # (the flag says so), and the next on_test_end or on_epoch_begin swaps them back.
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
