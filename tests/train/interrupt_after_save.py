"""Run a training script, but end every process right after the checkpoint of step N is written (a kill at a
known point, without timing): ``python interrupt_after_save.py N recipes/sft.py <args>``."""

import os
import runpy
import sys

from transformers import TrainerCallback

from compeff_hf import distributed
from compeff_hf.train import sft

STOP_AT = int(sys.argv[1])


class StopAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == STOP_AT:
            distributed.barrier()  # every rank has written its part of the checkpoint
            os._exit(3)


build_trainer = sft.build_trainer


def build_and_stop(*args, **kwargs):
    trainer, *rest = build_trainer(*args, **kwargs)
    trainer.add_callback(StopAfterSave())
    return (trainer, *rest)


sft.build_trainer = build_and_stop
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
