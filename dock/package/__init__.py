"""A learnware package: reading a zip under hostile-input rules (reader), building one (pack), the submission
checks (submission_checks) and model-file declarations (model_config)."""
