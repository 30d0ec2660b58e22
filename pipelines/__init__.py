"""Ray drivers, one per stage, plus `run` that chains them.

They decide what runs where (a task per shard, retries, resources); the work itself is plain
library code in `webtext/` and `dedup/`, testable without a cluster.
"""
