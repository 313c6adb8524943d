"""Everything that talks to GitHub: the REST client (`rest`), the `gh` CLI (`gh`), the model-health
issue (`issue`) and Actions' outputs, summaries and schedule (`actions`)."""
