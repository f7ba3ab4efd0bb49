"""Resuming: 2 epochs + resume 2 epochs == 4 epochs straight, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.train import EarlyStopping, ModelCheckpoint, TrainError, TrainingCheckpoint

from ._helpers import blobs, params, setup

X, Y = blobs(100)
XV, YV = blobs(40, seed=1)


def callbacks(tmp: Path, tag: str) -> list[cr.train.Callback]:
    return [
        EarlyStopping(patience=20, restore_best_weights=True),
        ModelCheckpoint(tmp / tag / "best.crt"),
    ]


def train(
    epochs: int, tmp: Path, tag: str, seed: int = 0, resume: Path | None = None, extra: tuple = ()
) -> tuple:
    model, loss_fn, opt, sched = setup(seed=seed, dropout=0.3)
    cbs = callbacks(tmp, tag) + list(extra)
    h = cr.train.fit(
        model,
        loss_fn,
        opt,
        (X, Y),
        val_data=(XV, YV),
        epochs=epochs,
        batch_size=16,
        scheduler=sched,
        seed=11 + seed,
        progress=False,
        callbacks=cbs,
        resume_from=resume,
    )
    return model, opt, sched, h, cbs


def assert_same_state(a: tuple, b: tuple) -> None:
    (ma, oa, sa, ha, ca), (mb, ob, sb, hb, cb) = a, b
    pa, pb = params(ma), params(mb)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert np.array_equal(pa[k], pb[k]), k
    assert ha.history == hb.history
    assert ha.epoch == hb.epoch
    sda, sdb = oa.state_dict(), ob.state_dict()
    assert sda["param_groups"] == sdb["param_groups"]
    for i, state in sda["state"].items():
        for key, value in state.items():
            assert np.array_equal(value, sdb["state"][i][key])
    assert sa.state_dict() == sb.state_dict()
    assert ca[0].best == cb[0].best and ca[0].wait == cb[0].wait
    assert ca[1].best == cb[1].best


def test_resume_is_bit_for_bit(tmp_path: Path) -> None:
    straight = train(4, tmp_path, "a")
    state = tmp_path / "state.crt"
    first = train(2, tmp_path, "b", extra=(TrainingCheckpoint(state),))
    assert len(first[3]) == 2
    # fresh objects built from another seed: everything must come from the file
    resumed = train(4, tmp_path, "b", seed=5, resume=state)
    assert len(resumed[3]) == 4
    assert_same_state(straight, resumed)
    # and chainrule's generator is where the straight run leaves it
    after_resumed = cr.randn(3).numpy()
    train(4, tmp_path, "c")
    assert np.array_equal(after_resumed, cr.randn(3).numpy())


def test_resume_from_every_epoch_file(tmp_path: Path) -> None:
    straight = train(3, tmp_path, "a")
    ck = TrainingCheckpoint(tmp_path / "s-{epoch}.crt")
    train(3, tmp_path, "b", extra=(ck,))
    assert sorted(p.name for p in tmp_path.glob("s-*.crt")) == ["s-1.crt", "s-2.crt", "s-3.crt"]
    resumed = train(3, tmp_path, "b", seed=5, resume=tmp_path / "s-1.crt")
    assert_same_state(straight, resumed)


def test_resume_with_a_user_dataloader_and_save_training_state(tmp_path: Path) -> None:
    def run(epochs: int, seed: int, resume: Path | None = None, save_to: Path | None = None):
        model, loss_fn, opt, _ = setup(seed=seed, dropout=0.5)
        loader = cr.data.DataLoader(
            cr.data.TensorDataset(X, Y), batch_size=8, shuffle=True, seed=seed
        )
        trainer = cr.train.Trainer(model, loss_fn, opt, loader, progress=False)
        if resume is not None:
            trainer.resume(resume)
        trainer.fit(epochs)
        if save_to is not None:
            cr.train.save_training_state(trainer, save_to)
        return params(model), trainer.history.history

    p4, h4 = run(4, seed=1)
    run(1, seed=1, save_to=tmp_path / "sub" / "t.crt")
    p_resumed, h_resumed = run(4, seed=2, resume=tmp_path / "sub" / "t.crt")
    assert h4 == h_resumed
    assert all(np.array_equal(p4[k], p_resumed[k]) for k in p4)


def test_resume_after_early_stop_does_not_train_again(tmp_path: Path) -> None:
    X2, Y2 = blobs(30)
    model, loss_fn, opt, _ = setup(lr=0.0)  # nothing changes: stops after 1 + patience
    state = tmp_path / "s.crt"
    h = cr.train.fit(
        model,
        loss_fn,
        opt,
        (X2, Y2),
        val_data=(X2, Y2),
        epochs=10,
        callbacks=[EarlyStopping(patience=1), TrainingCheckpoint(state, every=5)],
        progress=False,
    )
    assert len(h) == 2 and h.stopped_early
    model, loss_fn, opt, _ = setup(lr=0.0)
    h2 = cr.train.fit(
        model,
        loss_fn,
        opt,
        (X2, Y2),
        val_data=(X2, Y2),
        epochs=10,
        callbacks=[EarlyStopping(patience=1)],
        resume_from=state,
        progress=False,
    )
    assert h2.history == h.history and h2.stopped_early


def test_resume_errors(tmp_path: Path) -> None:
    model, loss_fn, opt, sched = setup()
    cr.save(model.state_dict(), tmp_path / "weights.crt")
    with pytest.raises(TrainError, match="not a chainrule training state"):
        cr.train.fit(model, loss_fn, opt, (X, Y), resume_from=tmp_path / "weights.crt")
    with pytest.raises(cr.CheckpointError, match="no such file"):
        cr.train.fit(model, loss_fn, opt, (X, Y), resume_from=tmp_path / "missing.crt")
    state = tmp_path / "s.crt"
    cr.train.fit(
        model,
        loss_fn,
        opt,
        (X, Y),
        epochs=1,
        scheduler=sched,
        progress=False,
        callbacks=[TrainingCheckpoint(state)],
    )
    model, loss_fn, opt, _ = setup()
    with pytest.raises(TrainError, match="saved with a scheduler"):
        cr.train.fit(model, loss_fn, opt, (X, Y), epochs=2, resume_from=state, progress=False)
