"""The run's schedule (stage plans, lr milestones, SWA cadence) and the train_log window means."""

from fdikp_cli.training.config import StageConfig
from fdikp_cli.training.runlog import StepWindow
from fdikp_cli.training.schedule import build_stage_plans, plan_at


def test_stages_run_back_to_back_and_each_step_finds_its_stage():
    stages = [StageConfig(crop=64, batch_size=4, milestones=(0.5, 0.75)),
              StageConfig(crop=96, batch_size=2, milestones=(), swa=True)]
    plans = build_stage_plans(stages, [10, 6], epoch_size=10, world_size=1)
    assert [(p.first_step, p.end_step) for p in plans] == [(0, 10), (10, 16)]
    assert [plan_at(plans, s).index for s in (0, 9, 10, 15, 16, 99)] == [0, 0, 1, 1, 1, 1]


def test_swa_cadence_is_one_epoch_of_the_global_batch_unless_set():
    stages = [StageConfig(batch_size=4), StageConfig(batch_size=2, swa_every=3), StageConfig(batch_size=4)]
    plans = build_stage_plans(stages, [100, 100, 2], epoch_size=38, world_size=2)
    # 38 images / (4 x 2 processes) = 4.75 -> an epoch is 5 steps; set explicitly: 3; shorter stage: its length
    assert [p.swa_every for p in plans] == [5, 3, 2]


def test_lr_milestones_are_fractions_of_the_stage_never_step_zero_never_twice():
    plan = build_stage_plans([StageConfig(milestones=(0.5, 0.75))], [1200], 38, 1)[0]
    assert plan.lr_milestones() == [600, 900]
    tiny = build_stage_plans([StageConfig(milestones=(0.1, 0.2))], [3], 38, 1)[0]
    assert tiny.lr_milestones() == [1]  # 0.3 and 0.6 steps round to 0 and 1: both become step 1, kept once


def test_step_window_means_and_speed_exclude_paused_time():
    now = [100.0]
    window = StepWindow(clock=lambda: now[0])
    for loss in (1.0, 2.0, 6.0):
        window.add({"loss": loss, "lr": 1e-4})
        now[0] += 2.0  # 2 s per training step
    now[0] += 30.0  # a validation pass...
    window.exclude(30.0)  # ...that the speed must not count
    row = window.flush(images_per_step=4)
    assert row["loss"] == 3.0 and row["steps"] == 3.0
    assert abs(row["it_per_s"] - 0.5) < 1e-12 and abs(row["img_per_s"] - 2.0) < 1e-12
    window.add({"loss": 5.0})
    now[0] += 1.0
    assert window.flush(images_per_step=1)["loss"] == 5.0  # a new window after each flush
