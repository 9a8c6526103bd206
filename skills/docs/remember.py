"""Keep a stated fact in memory, through the memory adapter."""
import re

from skills.spoken import second_person

_LEAD = re.compile(r"^(?:(?:hey|ok|okay|please|so|and|can you|could you|would you|i want you to|i need you to)\s+)*"
                   r"(?:remember|note to self|note|make a note|take a note|keep in mind|don'?t forget|never forget|write down|"
                   r"save|memori[sz]e|store|jot down)(?:\s+(?:this|that|the fact that|for me))*\s*[,:]?\s+(?:that\s+)?",
                   re.I)
_TAIL = re.compile(r"[,.]?\s*(?:please\s+)?(?:remember|keep|note|don'?t forget)\s+(?:that|this|it)(?:\s+in mind)?"
                   r"(?:\s+please)?$", re.I)


def parse(text: str):
    if text.strip().endswith("?"):
        return None         # "remember me?", "do you remember ...?": a question, not a fact
    t = text.strip().rstrip(".!")
    m = _LEAD.match(t)
    if m and len(t) > m.end():
        fact = t[m.end():]
    else:
        m = _TAIL.search(t)
        if not m or m.start() == 0:
            return None
        fact = t[:m.start()]
    fact = re.sub(r"\s+please$", "", fact.strip(" ,"), flags=re.I)
    if re.match(r"(when|what|where|who|how|why|if|whether|me|it|that|this|us|him|her)\b", fact, re.I):
        return None         # "remember when we met": reminiscing, not a fact to keep
    return {"fact": fact} if len(fact) >= 2 else None


def run(args: dict, ctx) -> str:
    ctx.memory.remember(args["fact"])
    return f"Okay, I'll remember that {second_person(args['fact'])}."
