#!/usr/bin/env bash
# Builds the worker into edge/build/ with the offline recipe (wrangler.toml's [build] command).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_worker
