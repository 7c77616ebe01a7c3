"""The operators' knowledge base: read and searched by staff (the operator's page shows the
article of the chosen category beside the form), written by the city's admins, versioned
(an edit made on an older version answers 409 with the article as it is now). Published
articles are also public (``GET /api/v1/kb``): what a resident is told is no secret; drafts
never are (row-level security, migration 0016)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ScopeDep, SessionDep, StaffScopeDep
from geo.kb import articles

router = APIRouter(prefix="/api/v1/staff/kb", tags=["knowledge base"])
public = APIRouter(prefix="/api/v1/kb", tags=["knowledge base"])

Lang = Annotated[str, Path(pattern="^(ru|kk|en)$", description="ru, kk or en")]
Category = Annotated[str, Path(max_length=32, pattern="^[a-z_]+$")]


class Article(BaseModel):
    category: str
    category_name: str
    group: str
    lang: str
    ask: str = Field(description="what the operator asks the caller")
    tell: str = Field(description="what the operator tells them: deadline, who, what next")
    published: bool
    version: int
    updated_at: dt.datetime
    updated_by: str


class PublicArticle(BaseModel):
    category: str
    category_name: str
    lang: str
    ask: str
    tell: str


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ask: str = Field(min_length=1, max_length=articles.MAX_TEXT)
    tell: str = Field(min_length=1, max_length=articles.MAX_TEXT)
    published: bool = True
    version: int = Field(ge=0, description="the version edited; 0 for a new article")


def _list(session, scope, lang, q, category, published_only=False) -> list[dict]:
    return articles.list_articles(
        session.connection(),
        scope.city_id,
        lang=lang,
        q=q,
        category=category,
        published_only=published_only,
    )


SearchLang = Annotated[str | None, Query(pattern="^(ru|kk|en)$")]
Search = Annotated[str | None, Query(max_length=100, description="words, typos allowed")]
CategoryQ = Annotated[str | None, Query(max_length=32)]


@router.get("", response_model=list[Article], summary="Articles (drafts: admins only), searched")
def list_staff(
    session: SessionDep,
    scope: StaffScopeDep,
    lang: SearchLang = None,
    q: Search = None,
    category: CategoryQ = None,
) -> list[dict]:
    return _list(session, scope, lang, q, category)


@router.get("/{category}/{lang}", response_model=Article, summary="The article of a category")
def read(category: Category, lang: Lang, session: SessionDep, scope: StaffScopeDep) -> dict:
    return articles.get_article(session.connection(), scope.city_id, category, lang)


@router.put(
    "/{category}/{lang}",
    response_model=Article,
    summary="Write an article (admins): version 0 for a new one; 409 when another edit won",
)
def write(
    category: Category, lang: Lang, body: ArticleIn, session: SessionDep, scope: StaffScopeDep
) -> dict:
    saved = articles.save_article(
        session.connection(),
        scope.city_id,
        scope.actor,
        category,
        lang,
        body.ask,
        body.tell,
        body.published,
        body.version,
    )
    session.commit()
    return saved


@public.get("", response_model=list[PublicArticle], summary="Published articles of the city")
def list_public(
    session: SessionDep,
    scope: ScopeDep,
    lang: SearchLang = None,
    q: Search = None,
    category: CategoryQ = None,
) -> list[dict]:
    return _list(session, scope, lang, q, category, published_only=True)
