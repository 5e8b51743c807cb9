"""Label placement in pixels: crowded points still get labels that hide none of each other."""

from __future__ import annotations

import itertools

from autoprune.report._labels import Box, place_labels


def test_box_overlap_and_outside_by_hand():
    assert Box(0, 0, 4, 2).overlap(Box(3, 0, 4, 2)) == 2.0  # 1 px wide, 2 px high
    assert Box(0, 0, 4, 2).overlap(Box(5, 0, 4, 2)) == 0.0
    assert Box(0, 0, 4, 2).outside(Box(0, 0, 10, 10)) == 0.0
    assert Box(4, 0, 4, 2).outside(Box(0, 0, 10, 10)) == 1.0  # right edge at 6, frame ends at 5


def test_six_labels_on_one_point_do_not_overlap_and_stay_inside():
    frame = Box(200, 150, 400, 300)
    anchors = [(200.0, 150.0)] * 6
    sizes = [(24.0, 11.0)] * 6
    boxes = [Box(cx, cy, w, h) for (cx, cy), (w, h) in zip(place_labels(anchors, sizes, frame), sizes)]
    for a, b in itertools.combinations(boxes, 2):
        assert a.overlap(b) == 0.0
    assert all(b.outside(frame) == 0.0 for b in boxes)


def test_a_label_near_the_frame_edge_turns_inwards():
    frame = Box(50, 50, 100, 100)
    (centre,) = place_labels([(99.0, 99.0)], [(30.0, 10.0)], frame)
    assert Box(*centre, 30, 10).outside(frame) == 0.0


def test_labels_avoid_other_markers_when_there_is_room():
    frame = Box(100, 100, 200, 200)
    # markers crowd every side but the lower left of the anchor
    markers = [(110.0, 110.0), (100.0, 112.0), (112.0, 100.0), (90.0, 112.0), (112.0, 90.0)]
    (centre,) = place_labels([(100.0, 100.0)], [(20.0, 10.0)], frame, markers)
    box = Box(*centre, 20, 10)
    assert all(box.overlap(Box(x, y, 10, 10)) == 0.0 for x, y in markers)
