"""Pipelines wire models and schedulers into a sampler; they own no maths of their own."""
