"""The list's filter form reads the segment menu only when it is needed, and then once."""

from __future__ import annotations

from django.http import QueryDict

from customers_app.forms import CustomerFilterForm
from customers_app.templatetags.dashboard import filter_fields
from customers_app.types import Segment

SEGMENTS = [Segment(id="seg_vip", name="VIP <gold>"), Segment(id="seg_new", name="New this week")]


def counting_segments():
    calls = []

    def segments():
        calls.append(1)
        return SEGMENTS

    return segments, calls


def test_a_list_without_a_segment_filter_validates_without_reading_the_segments():
    segments, calls = counting_segments()
    form = CustomerFilterForm(QueryDict("city=Krak%C3%B3w&limit=100"), segments=segments)
    assert form.is_valid() and form.cleaned_data["city"] == "Kraków"
    assert calls == []  # the page's call can go out first
    html = str(filter_fields(form))
    assert '<option value="seg_vip">VIP &lt;gold&gt;</option>' in html and calls == [1]
    filter_fields(form)
    assert calls == [1]


def test_a_segment_filter_is_validated_against_the_menu_and_named_in_its_chip():
    segments, calls = counting_segments()
    form = CustomerFilterForm(QueryDict("segment_id=seg_new"), segments=segments)
    assert form.is_valid() and form.cleaned_data["segment_id"] == "seg_new"
    assert [chip[:2] for chip in form.active_filters()] == [("Segment", "New this week")]
    assert '<option value="seg_new" selected>' in str(filter_fields(form)) and calls == [1]


def test_a_shared_urls_segment_still_validates_when_the_menu_does_not_have_it():
    form = CustomerFilterForm(QueryDict("segment_id=seg_gone"), segments=list)
    assert form.is_valid() and form.cleaned_data["segment_id"] == "seg_gone"
