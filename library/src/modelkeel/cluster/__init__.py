"""The Dask engine (`compute.engine: dask`): the same pipeline on a cluster. `session.py` opens and always
closes the cluster; the other modules run a stage's work on it, partition by partition."""
