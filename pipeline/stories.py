"""Stories: group documents about the same news story; one brief per story.

Entry point: `group_stories(documents, dedup_result, settings) -> list[Story]`.

Documents are compared by TF-IDF cosine of their content-word stems
(body paragraphs only); documents whose similarity reaches
`stories.threshold` are linked, and a story is a connected group of linked
documents. A story keeps each paragraph once: a paragraph that duplicates
another (exact, near or contained) is represented by its group's canonical
member.
"""

from __future__ import annotations

from typing import Sequence

from .config import StoriesSettings
from .dedup import group_of
from .model import DedupResult, Document, Story
from .textsim import ContentWords, tfidf


def document_similarity(documents: Sequence[Document], words: ContentWords) -> list[list[float]]:
    space = tfidf([words.stems(" ".join(p.text for p in d.paragraphs if p.kind == "body")) for d in documents])
    n = len(documents)
    return [[space.cosine(i, j) if i != j else 1.0 for j in range(n)] for i in range(n)]


def group_stories(documents: Sequence[Document], dedup_result: DedupResult, settings: StoriesSettings) -> list[Story]:
    if not documents:
        return []
    sim = document_similarity(documents, ContentWords())
    n = len(documents)
    story_of = list(range(n))

    def find(x: int) -> int:
        while story_of[x] != x:
            x = story_of[x]
        return x

    for i in range(n):
        for j in range(i + 1, n):
            if sim[i][j] >= settings.threshold:
                ri, rj = find(i), find(j)
                if ri != rj:
                    story_of[max(ri, rj)] = min(ri, rj)

    para_group = group_of(dedup_result.paragraph_groups)
    clusters: dict[int, list[Document]] = {}
    for i, doc in enumerate(documents):
        clusters.setdefault(find(i), []).append(doc)

    stories: list[Story] = []
    for docs in sorted(clusters.values(), key=lambda ds: (-len(ds), ds[0].doc_id)):
        ids = {d.doc_id for d in docs}
        kept: list[str] = []
        for doc in docs:
            for p in doc.paragraphs:
                if p.kind != "body":
                    continue
                group = para_group.get(p.pid)
                if group is not None and group.canonical != p.pid and group.canonical.split(":")[0] in ids:
                    continue
                kept.append(p.pid)
        stories.append(Story(f"story-{len(stories) + 1:03d}", tuple(d.doc_id for d in docs), tuple(kept)))
    return stories
