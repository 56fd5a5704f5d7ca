"""One pykka actor per file: thin shells that gather inputs, call the domain core, send the outputs."""
