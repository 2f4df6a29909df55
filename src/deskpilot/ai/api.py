"""Intent classifier routes: list versions, train a new version (admins), predict (staff)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from deskpilot.ai import classifiers
from deskpilot.ai.schemas import (
    ClassifierList,
    ClassifierName,
    ClassifierRead,
    PredictionList,
    PredictionRead,
    PredictRequest,
    TrainRequest,
)
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=TransactionalRoute)
NamePath = Annotated[ClassifierName, Path()]


@router.get("/classifiers", response_model=ClassifierList)
def list_classifiers(session: DbSession, ctx: StaffContext) -> ClassifierList:
    return ClassifierList(
        items=[
            ClassifierRead.model_validate(row) for row in classifiers.list_classifiers(session, ctx)
        ]
    )


@router.post(
    "/classifiers",
    status_code=status.HTTP_201_CREATED,
    response_model=ClassifierRead,
    responses={200: {"description": "Replayed Idempotency-Key: the version created first"}},
)
def train_classifier(
    data: TrainRequest,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ClassifierRead:
    """Train the next version of a classifier from labelled examples (label `oos` marks texts
    it must reject; they set the out-of-scope threshold). Runs synchronously."""
    examples = [classifiers.Example(e.text, e.label) for e in data.examples]
    row, created = classifiers.train(
        session, ctx, data.name, examples, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/ai/classifiers/{row.name}")
    return ClassifierRead.model_validate(row)


@router.get("/classifiers/{name}", response_model=ClassifierRead)
def get_classifier(name: NamePath, session: DbSession, ctx: StaffContext) -> ClassifierRead:
    """The newest version, the one predictions use."""
    return ClassifierRead.model_validate(classifiers.latest(session, ctx, name))


@router.post("/classifiers/{name}/predict", response_model=PredictionList)
def predict(
    name: NamePath, data: PredictRequest, session: DbSession, ctx: StaffContext
) -> PredictionList:
    predictions = classifiers.predict(session, ctx, name, data.texts)
    return PredictionList(
        items=[
            PredictionRead(
                text=text, label=p.label, confidence=p.confidence, out_of_scope=p.out_of_scope
            )
            for text, p in zip(data.texts, predictions, strict=True)
        ]
    )
