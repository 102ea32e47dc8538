"""Applications, built on every floor below: the job table main.py dispatches on
(jobs.py), the evaluation command with its report (evaluate.py), the experiments grid
(experiments.py), the report (report/), the benchmarks and their torch peer (bench/), the
offline demos and their check (demos/), fault injection (faults.py)."""
