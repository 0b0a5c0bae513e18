"""Running a learnware's model: the parent-side handle ModelWorker (worker), the script the worker process runs
and its wire codec (worker_main), its sandbox layers (sandbox, sandbox_seccomp, sandbox_watch), per-
requirements venvs (venvs) and a loaded learnware (loaded)."""
