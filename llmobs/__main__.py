"""``python -m llmobs`` is the ``llmobs`` command."""

from llmobs.cli.entry import llmobs

if __name__ == "__main__":
    llmobs()
