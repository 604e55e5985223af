"""The check the op tests share: a model built by the same code on bigcore and on Keras 3, from the
same weights, predicts the same and holds the same weights after a few SGD steps."""

import numpy as np

import bigcore


def trains_like_keras(keras, build, x, y, learning_rate, epochs=2, batch_size=4, seed=0):
    """build(lib) -> a model of lib (bigcore or keras); trained with mse, no shuffling."""
    bigcore.utils.set_random_seed(seed)
    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-6)
    for model, lib in ((ours, bigcore), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(learning_rate), loss="mse")
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


def optimizer_state_like_keras(ours, theirs, x, y, rtol, atol, steps=3, batch=8):
    """`steps` train_on_batch calls on both models, then bigcore's optimizer state as its Keras files
    write it equals Keras's optimizer variables, in Keras's order and shapes."""
    for i in range(0, steps * batch, batch):
        ours.train_on_batch(x[i:i + batch], y[i:i + batch])
        theirs.train_on_batch(x[i:i + batch], y[i:i + batch])
    mine = bigcore.saving.keras_weights.optimizer_slots(ours)
    keras_vars = theirs.optimizer.variables
    values = [v.value.detach().cpu().numpy() for v in keras_vars]
    assert [tuple(s.shape) for s in mine] == [tuple(v.shape) for v in values]
    for k, (s, v) in enumerate(zip(mine, values)):
        np.testing.assert_allclose(np.asarray(s.get(), np.float64), v.astype(np.float64), rtol=rtol, atol=atol,
                                   err_msg=f"optimizer variable {k} ({keras_vars[k].path})")
