"""{{ cookiecutter.project_name }}: the parts that are yours.

    schemas/   the data contract (pandera), one module per dataset: `infer-schema` writes a first one
    model.py   the preprocessing and the estimator: `build_pipeline(settings)`

Everything else (the command line, the stages, the gates, the bundle, the registry, the loop, serving)
is the modelkeel library, pinned in pyproject.toml.
"""
