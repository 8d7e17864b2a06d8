#!/usr/bin/env sh
# A Ray head on 127.0.0.1 for `python -m core sweep ... --engine ray --ray-address ADDR`:
#   scripts/ray_head.sh start [--port N] [--num-cpus N] | stop | status
# (core/evaluate/rayhead.py; PYTHON picks the interpreter, default the project's .venv)
cd "$(dirname "$0")/.." || exit 2
exec "${PYTHON:-.venv/bin/python}" -m core.evaluate.rayhead "$@"
