"""Imported only by the forkserver that starts our pipelines' processes (first in its preload list, see
``base._forkserver``). The forkserver is a child of the stage process, and every process of the pipeline (step
workers, distilabel's manager) is forked by the forkserver: each asks the kernel for SIGKILL when its parent dies,
so a stage killed with -9 takes the forkserver with it, and the forkserver everything it forked. (Without this the
forkserver outlives the stage: each process it forked holds the pipe that tells it a client is still alive.)"""

import os

from .base import die_with_parent

die_with_parent()
os.register_at_fork(after_in_child=die_with_parent)
