"""Everything that talks to an LLM endpoint: the client, the distilabel adapter, the embedded server."""
