"""``python -m llmobs`` is the ``llmobs`` command."""

from llmobs.cli.main import main

if __name__ == "__main__":
    main()
