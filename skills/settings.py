"""The ``[skills]`` section of config.toml.

The skills layer owns the settings it reads, so it never imports the application;
assistant.config composes them into the whole file's schema.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SkillsConfig(BaseModel):
    # As every section of config.toml (assistant.config.Section; tests/test_config.py checks).
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)
    user_dir: str = ""                  # extra folder of skill docs (*.md) and handlers; "" = none
    top_k: int = Field(1, ge=0, le=20)
    min_relevance: float = Field(0.5, ge=-1.0, le=1.0)
    route_min_relevance: float = Field(0.72, ge=0.0, le=1.0)  # act only on an example this close
    route_margin: float = Field(0.04, ge=0.0, le=1.0)         # ... and this much closer than any other skill
    llm_arguments: bool = True          # let the LLM fill arguments a skill's own parser cannot
    handler_timeout_s: float = Field(5.0, gt=0.0, le=120.0)
    timezone: str = ""                  # IANA name for time, date and reminders; "" = the system's

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value:
            from zoneinfo import ZoneInfo
            try:
                ZoneInfo(value)
            except (ValueError, KeyError, OSError):
                raise ValueError(f"unknown time zone {value!r}; use an IANA name like \"Europe/Paris\"")
        return value
