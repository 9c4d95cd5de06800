from datetime import date, datetime

from experience.core import clock


def test_end_of_day_is_23_59_59_beijing():
    assert clock.end_of_day(date(2024, 8, 23)) == datetime(2024, 8, 23, 15, 59, 59, 999999)


def test_days_left_counts_beijing_days():
    # 2024-08-22 17:00 UTC is already Aug 23 01:00 in Beijing: the deadline day itself.
    assert clock.days_left(date(2024, 8, 23), datetime(2024, 8, 22, 17, 0)) == 0
    assert clock.days_left(date(2024, 8, 23), datetime(2024, 8, 22, 15, 0)) == 1
    assert clock.days_left(date(2024, 8, 23), datetime(2024, 8, 16, 1, 0)) == 7
