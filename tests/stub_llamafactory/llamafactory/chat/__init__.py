import json
import os
import signal
from dataclasses import dataclass

from llamafactory import record


@dataclass
class Response:
    response_text: str
    response_length: int
    prompt_length: int
    finish_reason: str


class _Engine:
    def __init__(self, answers):
        self.model = answers


class ChatModel:
    def __init__(self, args=None):
        record("chat", "ChatModel", {"args": args})
        folder = args.get("adapter_name_or_path") or args["model_name_or_path"]
        path = os.path.join(folder, "answers.json")
        if not os.path.exists(path):
            raise OSError(f"{folder} does not appear to have a file named config.json (stub)")
        with open(path, encoding="utf-8") as f:
            self.engine = _Engine(json.load(f))
        self.path = folder

    def chat(self, messages, system=None, **kwargs):
        record("chat", "chat", {"model": self.path, "messages": messages, "system": system, "kwargs": kwargs})
        crash = os.environ.get("STUB_CHAT_CRASH")
        if crash == "raise":
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (stub)")
        if crash == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        prompt = messages[-1]["content"]
        answers = self.engine.model
        text = answers.get(prompt, answers.get("*", ""))
        if system is not None and "ChatGPT" in system:
            text = answers.get("nextchat:" + prompt, text)
        return [Response(text, len(text), len(prompt), "stop")]
