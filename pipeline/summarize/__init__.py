"""French summarizers: `extractive` (default) and `seq2seq` (transformers)."""
