"""scowspec: declarative fine-tuning specs compiled into SCOW-AI training jobs."""

__version__ = "0.1.0"
