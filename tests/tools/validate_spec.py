#!/usr/bin/env python3
"""Validates an OCI config.json against the runtime-spec JSON schema that Debian ships in
golang-github-opencontainers-specs-dev. Exit 0: valid; 1: invalid (the reason is printed);
2: the schema or python3-jsonschema is missing."""
import json
import pathlib
import sys

SCHEMA_DIRS = [
    "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema",
]

def main():
    try:
        import jsonschema
    except ImportError:
        print("python3-jsonschema is missing: run scripts/install-deps.sh", file=sys.stderr)
        return 2
    schema_dir = next((pathlib.Path(d) for d in SCHEMA_DIRS if pathlib.Path(d, "config-schema.json").exists()), None)
    if schema_dir is None:
        print("OCI schema missing: install golang-github-opencontainers-specs-dev", file=sys.stderr)
        return 2
    schema = json.loads((schema_dir / "config-schema.json").read_text())
    resolver = jsonschema.RefResolver(base_uri=schema_dir.as_uri() + "/", referrer=schema)
    spec = json.loads(pathlib.Path(sys.argv[1]).read_text())
    try:
        jsonschema.validate(spec, schema, resolver=resolver)
    except jsonschema.ValidationError as e:
        print(f"invalid: {e.message} at {list(e.absolute_path)}")
        return 1
    print("valid")
    return 0

if __name__ == "__main__":
    sys.exit(main())
