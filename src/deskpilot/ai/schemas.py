"""Request and response shapes for intent classifiers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from deskpilot.ai.classifiers import MAX_EXAMPLES, MAX_LABEL, MAX_TEXT, NAME_RE

MAX_PREDICT_TEXTS = 100

ClassifierName = Annotated[str, StringConstraints(pattern=NAME_RE.pattern)]
ExampleText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABEL)]


class ExampleIn(BaseModel):
    text: ExampleText
    label: Label


class TrainRequest(BaseModel):
    name: ClassifierName
    examples: Annotated[list[ExampleIn], Field(min_length=4, max_length=MAX_EXAMPLES)]


class PredictRequest(BaseModel):
    texts: Annotated[list[ExampleText], Field(min_length=1, max_length=MAX_PREDICT_TEXTS)]


class ClassifierRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: int
    labels: list[str]
    metrics: dict[str, Any]
    threshold: float
    embedding_model: str
    created_at: datetime


class ClassifierList(BaseModel):
    items: list[ClassifierRead]


class PredictionRead(BaseModel):
    text: str
    label: str
    confidence: float
    out_of_scope: bool


class PredictionList(BaseModel):
    items: list[PredictionRead]
