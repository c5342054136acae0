"""``EmailForecast``: where a share batch's log entries go on PostgreSQL (hub.services.log_writer)."""

from __future__ import annotations

from hub.services.log_writer import EmailForecast


def test_an_agency_not_yet_seen_is_expected_to_tell_people() -> None:
    forecast = EmailForecast()
    assert not forecast.quiet([7])
    assert forecast.quiet([])  # a batch that delivers nothing tells nobody


def test_the_last_batch_to_each_agency_decides() -> None:
    forecast = EmailForecast()
    forecast.learn([7, 8], [{"agency_id": 8}, {"agency_id": 8}])
    assert forecast.quiet([7])
    assert not forecast.quiet([8]) and not forecast.quiet([7, 8])
    assert not forecast.quiet([7, 9])  # 9 not seen yet
    forecast.learn([8], [])  # its readers no longer want e-mail
    assert forecast.quiet([7, 8])
    forecast.learn([7], [{"agency_id": 7}])
    assert not forecast.quiet([7, 8])
