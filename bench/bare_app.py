"""The baseline: a bare Flask app that reads the body and answers 202 with a small JSON, nothing else."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask("bare")


@app.post("/ding/send")
def send():  # type: ignore[no-untyped-def]
    request.get_data()
    return jsonify({"id": "0" * 20, "status": "queued"}), 202


@app.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})
