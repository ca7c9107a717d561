"""A real HTTP server on 127.0.0.1 answering construct prompts like a capable generator, in two protocols.

It speaks the OpenAI chat-completions protocol (chat prompts) and TGI's generate API at ``/`` and ``/generate``
(completion prompts, with TGI's stop-sequence semantics: the matched stop string stays at the end of the text).
A capable generator cannot run here, so this one answers each construct prompt from a script: the answer depends
only on the prompt (so reruns are reproducible), and some answers are deliberately malformed, two-text tasks, or
copies of the prompt's worked examples, to exercise the rejection paths. It counts requests per prompt kind
(``completion:<kind>`` for completion prompts), which is how tests check resumption.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ATTRIBUTE_POOL = [
    "Tone", "Overall Sentiment", "Emotional Intensity", "Frustration Level", "Recommendation", "Sentiment Polarity",
    "Anger/Frustration", "Use of Humor", "Sarcasm", "Joy", "Tone: sarcastic", "Emotional Tone",
]  # fmt: skip


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def answer(prompt: str) -> tuple[str, str]:
    """(kind, answer text) for one construct prompt."""
    if prompt.startswith("Instruction: Given the following input, what kind of sentiment-related attributes"):
        text = prompt.rsplit("Input: ", 1)[1].rsplit("\n\nAttribute:", 1)[0].strip()
        if _h(text) % 3 == 0:
            return "attributes", "I am sorry, I cannot list attributes for this text."
        k = 4 + _h(text) % 5
        start = _h(text) % len(ATTRIBUTE_POOL)
        names = [ATTRIBUTE_POOL[(start + i) % len(ATTRIBUTE_POOL)] for i in range(k)]
        lines = [
            f"{i}. **{n}**: Attribute Description - how the text shows {n.lower()}. Attribute Value - high."
            for i, n in enumerate(names, 1)
        ]
        return "attributes", "\n".join(lines)
    if prompt.startswith("Write prompts that ask for an analysis"):
        attrs = prompt.split("attributes:\n", 1)[1].split("\n", 1)[0]
        first = attrs.split(",")[0].strip()
        return "analysis", (
            f" Analyze the {first} of this text and quote the words that reveal it.\n"
            f"2. **Diagnosis**: What does this text reveal about its {first}?\n"
            f"3. How strong is the {first} in this text, and what causes it?"
        )
    if prompt.startswith("Design sentiment-analysis tasks"):
        attr = re.search(r"\*\*(.+?)\*\*", prompt).group(1)
        ideas = [
            {"task_name": f"{attr.title()} Classification", "task_description": f"Classify the {attr} of the text."},
            {"task_name": f"{attr.title()} Rating", "task_description": f"Rate the {attr} of the text from 1 to 5."},
            {
                "task_name": "Review Comparison",
                "task_description": "Decide which is more positive, Review 1 or Review 2.",
            },
        ]
        return "ideas", "```json\n" + json.dumps(ideas, indent=1) + "\n```"
    if prompt.startswith("Rewrite the following task"):
        name = re.search(r"Task name: (.+)", prompt).group(1)
        if "Rating" in name and _h(name) % 3 == 0:
            return "tasks", "Sure, here is the rewritten task, it is great."  # malformed on purpose
        if "Comparison" in name:
            desc = "Compare Review 1 and Review 2 and say which is more positive."
            return "tasks", (
                f"Task Name: {name}\nTask Description: {desc}\nOutput Format: 1 or 2\nTask Examples:\n"
                "Input: Review 1: Great food. Review 2: Cold soup.\nOutput: 1"
            )
        if "Rating" in name:
            return "tasks", (
                f"Task Name: {name}\nTask Type: rating\nTask Description: Rate it on a scale from 1 to 5 for the text.\n"
                "Labels: none\nOutput Format: an integer from 1 to 5\nTask Examples:\n"
                "Input: I am so angry right now.\nOutput: 5\nInput: It was fine.\nOutput: 2"
            )
        return "tasks", (
            f"Task Name: {name}\nTask Type: classification\nTask Description: Classify the text into one label.\n"
            "Labels: positive, negative\nOutput Format: one label\nTask Examples:\n"
            "Input: Loved it!\nOutput: positive\nInput: Awful service.\nOutput: negative"
        )
    if prompt.startswith("Generate"):
        refs = prompt.split("Reference Texts:", 1)[1]
        n = _h(refs)
        if "Allowed labels" in prompt:
            return "demos", (
                f"Input: A style copy number {n % 1000}, truly great.\nOutput: positive\n\n"
                f"Input: Another one, {n % 997}, quite bad.\nOutput: {'negative' if n % 2 else 'unsure'}"
            )
        return "demos", f"Input: Text {n % 1000} about things.\nOutput: 3\nInput: Text {n % 991} again.\nOutput: 4"
    return "other", "I do not understand."


def complete(prompt: str) -> tuple[str, str]:
    """(kind, continuation) for one completion-style construct prompt (the few-shot documents of the package).

    Each continuation ends its paragraph with a blank line and some rambling, as a base model would, so the
    client's stop strings matter.
    """
    slot = prompt[prompt.rfind("\n\n") + 2 :]
    ramble = "\n\nText: and then another one\nAttributes:\n1. **More**"
    if prompt.startswith("Sentiment-related attributes"):
        body = slot.split("Text:", 1)[1].split("\n")[0].lstrip()
        kind, text = answer(
            "Instruction: Given the following input, what kind of sentiment-related attributes?\nInput: "
            + body
            + "\n\nAttribute: "
        )
        if kind == "attributes" and text.startswith("1. **"):
            return "attributes", text[len("1. **") :] + ramble
        return "attributes", " and so on" + ramble  # unparseable on purpose
    if prompt.startswith("Analysis prompts"):
        first = slot.split("Perspective: ", 1)[1].split(",")[0].split("\n")[0].strip()
        return "analysis", (
            f" Analyze the {first} of this text and quote the words that reveal it.\n"
            f"2. What does this text reveal about its {first}?\n"
            "3. Identify the sarcastic or ironic remarks in this text and explain what they really mean." + ramble
        )
    if prompt.startswith("Sentiment-analysis task ideas"):
        attr = slot.split("Attribute: ", 1)[1].split(" (")[0]
        return "ideas", (
            f" {attr.title()} Classification | Classify the {attr} of the text.\n"
            f"2. {attr.title()} Rating | Rate the {attr} of the text from 1 to 5.\n"
            "3. Frustration Level Rating | Rate how frustrated the writer is on a scale from 1 (calm) to 5.\n"
            "4. Review Comparison | Decide which is more positive, Review 1 or Review 2." + ramble
        )
    if prompt.startswith("Sentiment-analysis task definitions"):
        name = slot.split("Task Name: ", 1)[1].split("\n")[0]
        if "Comparison" in name:
            return (
                "tasks",
                " classification\nTask Description: Compare Review 1 and Review 2 and say which wins.\n"
                "Output Format: 1 or 2\nTask Examples:\nInput: Review 1: Great food. Review 2: Cold soup.\nOutput: 1"
                + ramble,
            )
        if "Rating" in name:
            return "tasks", (
                " rating\nTask Description: Rate it on a scale from 1 to 5 for the text.\nLabels: none\n"
                "Output Format: an integer from 1 to 5\nTask Examples:\nInput: I am so angry right now.\nOutput: 5\n"
                "Input: The parcel is late again and nobody answers the phone. I give up.\nOutput: 5" + ramble
            )
        return "tasks", (
            " classification\nTask Description: Classify the text into one label.\nLabels: positive, negative\n"
            "Output Format: one label\nTask Examples:\nInput: Loved it!\nOutput: positive\n"
            "Input: Awful service.\nOutput: negative" + ramble
        )
    if prompt.startswith("Task: "):
        n = _h(prompt)
        if "Allowed labels" in prompt:
            return "demos", (
                f" A style copy number {n % 1000}, truly great.\nOutput: positive\n\n"
                f"Input: Another one, {n % 997}, quite bad.\nOutput: {'negative' if n % 2 else 'unsure'}\n\n\nTask: x"
            )
        # The same text twice with two answers, as small models do: only the first may be kept.
        return (
            "demos",
            f" Text {n % 1000} about things.\nOutput: 3\n\nInput: Text {n % 1000} about things.\nOutput: 4\n\n\n",
        )
    return "other", " I do not understand."


def apply_stop(text: str, stop: list[str]) -> tuple[str, str]:
    """TGI's semantics: cut after the earliest stop string, which stays in the text; (text, finish_reason)."""
    hits = [(text.find(s) + len(s), s) for s in stop if s and s in text]
    if not hits:
        return text, "length"
    end = min(hits)[0]
    return text[:end], "stop_sequence"


class ScriptedLLM:
    """``with ScriptedLLM() as llm: llm.url`` — counts requests per kind in ``llm.requests``."""

    def __init__(self, fail=None):
        self.fail = fail  # fail(prompt) -> True: answer that chat request with HTTP 500
        self.failed: Counter = Counter()
        self.requests: Counter = Counter()
        self.completion_params: list[dict] = []
        self.temperatures: dict[str, set] = {}  # chat requests: prompt kind -> temperatures seen
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict | list) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"status": "ok"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path in ("/", "/generate"):  # TGI's generate API (InferenceClient.text_generation)
                    kind, text = complete(body["inputs"])
                    params = body.get("parameters") or {}
                    text, reason = apply_stop(text, params.get("stop") or [])
                    with owner._lock:
                        owner.requests[f"completion:{kind}"] += 1
                        owner.completion_params.append(params)
                    details = {"finish_reason": reason, "generated_tokens": len(text.split()), "seed": None}
                    out = {"generated_text": text, "details": {**details, "prefill": [], "tokens": []}}
                    self._send(200, [out] if self.path == "/" else out)
                    return
                prompt = body["messages"][-1]["content"]
                kind, text = answer(prompt)
                if owner.fail is not None and owner.fail(prompt):
                    with owner._lock:
                        owner.failed[kind] += 1
                    self._send(500, {"error": "scripted failure"})
                    return
                with owner._lock:
                    owner.requests[kind] += 1
                    owner.temperatures.setdefault(kind, set()).add(body.get("temperature"))
                self._send(
                    200,
                    {
                        "id": "chatcmpl-scripted",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "dummy"),
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {
                            "prompt_tokens": len(prompt.split()),
                            "completion_tokens": len(text.split()),
                            "total_tokens": len(prompt.split()) + len(text.split()),
                        },  # fmt: skip
                    },
                )

        return Handler
