"""What keeps story grouping linear must not change what it finds."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import pipeline.stories as stories


def test_top_terms_keeps_each_rows_heaviest_eligible_entries_earlier_first_on_ties():
    m = sp.csr_matrix(np.array([
        [0.5, 0.0, 0.9, 0.1, 0.9],  # a tie at the cut: the earlier entry stays
        [0.0, 0.0, 0.0, 0.0, 0.0],  # empty row
        [0.2, 0.0, 0.0, 0.0, 0.0],  # shorter than keep: kept whole
        [0.3, 0.8, 0.7, 0.6, 0.0],
    ]))
    top = stories._top_terms(m, 2).toarray()
    assert top.tolist() == [[0.0, 0.0, 0.9, 0.0, 0.9], [0.0] * 5, [0.2, 0, 0, 0, 0], [0.0, 0.8, 0.7, 0.0, 0.0]]
    ties = stories._top_terms(sp.csr_matrix(np.array([[0.4, 0.4, 0.4]])), 2).toarray()
    assert ties.tolist() == [[0.4, 0.4, 0.0]]
    eligible = m.data != 0.8  # row 3 without its heaviest entry
    assert stories._top_terms(m, 2, eligible).toarray()[3].tolist() == [0.0, 0.0, 0.7, 0.6, 0.0]


def test_a_joining_pass_rejudges_the_stories_near_a_changed_story_and_only_those():
    clusters = stories._Clusters(sp.identity(6, format="csr"))
    clusters.union(0, 1)
    changed = clusters.find(0)
    near = [[], [], [(0.5, 0)], [(0.4, 4)], [(0.4, 3)], []]  # 2 is near an article of the changed story
    assert stories._touching(clusters, near, {changed}) == {changed, 2}
