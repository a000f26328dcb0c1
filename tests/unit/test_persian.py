from datetime import UTC, date, datetime

import pytest

from shared import jalali, persian


def test_arabic_yeh_and_kaf_become_persian():
    assert persian.normalize("كودكان ايران") == "کودکان ایران"


def test_persian_and_arabic_indic_digits_become_ascii():
    assert persian.to_ascii_digits("۰۳۱-٤٥٦") == "031-456"


def test_whitespace_is_trimmed_and_collapsed():
    assert persian.normalize("  انجمن \t  حمایت  ") == "انجمن حمایت"


def test_search_key_treats_zwnj_and_space_alike():
    assert persian.search_key("نجف\u200cآباد") == persian.search_key("نجف آباد")
    assert persian.search_key("نجف\u200cآباد") == persian.search_key("نجفآباد")


@pytest.mark.parametrize("code", ["0499370899", "3974017844", "7730942860", "۰۴۹۹۳۷۰۸۹۹"])
def test_valid_national_ids_pass(code):
    assert persian.is_valid_national_id(code)


@pytest.mark.parametrize("code", ["0499370898", "1111111111", "12345", "abcdefghij", "",
                                  "04993708990"])
def test_invalid_national_ids_fail(code):
    assert not persian.is_valid_national_id(code)


def test_short_national_id_is_left_padded():
    assert persian.normalize_national_id("67749828") == "0067749828"
    assert persian.is_valid_national_id("67749828")


def test_national_id_is_masked_to_first_and_last_three():
    assert persian.mask_national_id("0499370899") == "049****899"


@pytest.mark.parametrize("raw", ["09121234567", "+989121234567", "00989121234567",
                                 "۰۹۱۲۱۲۳۴۵۶۷", "0912 123 4567"])
def test_mobile_numbers_in_every_spelling_normalise(raw):
    assert persian.normalize_mobile(raw) == "09121234567"


@pytest.mark.parametrize("raw", ["0312345678", "08121234567", "+98912123456", "phone"])
def test_non_mobiles_are_refused(raw):
    assert persian.normalize_mobile(raw) is None


def test_today_is_1405_09_05():
    assert jalali.format_date(date(2026, 11, 26)) == "1405/09/05"
    assert jalali.parse_date("۱۴۰۵/۰۹/۰۵") == date(2026, 11, 26)


def test_iso_dates_and_datetimes_parse():
    assert jalali.parse_date("2026-11-26") == date(2026, 11, 26)
    assert jalali.parse_date("2026-11-26T10:00:00Z") == date(2026, 11, 26)


@pytest.mark.parametrize("raw", ["1405/13/01", "1405/12/31", "not a date", "2026-02-30"])
def test_impossible_dates_are_refused_in_persian(raw):
    with pytest.raises(ValueError, match="تاریخ معتبر نیست"):
        jalali.parse_date(raw)


def test_instants_format_as_jalali_date_and_time_in_tehran():
    when = datetime(2026, 11, 26, 9, 24, tzinfo=UTC)
    assert jalali.format_datetime(when) == "1405/09/05 12:54"  # Tehran is UTC+03:30


def test_age_counts_whole_years():
    assert jalali.age_on(date(2008, 11, 27), date(2026, 11, 26)) == 17
    assert jalali.age_on(date(2008, 11, 26), date(2026, 11, 26)) == 18


@pytest.mark.parametrize("typed", ["０３１-４５６", "०३१-४५६", "۰۳۱-٤٥٦"])
def test_decimal_digits_of_any_script_become_ascii(typed):
    assert persian.to_ascii_digits(typed) == "031-456"


def test_digits_that_are_not_decimal_stay_and_are_recognised():
    assert persian.to_ascii_digits("²①") == "²①"
    assert persian.has_foreign_digits("049937089⁹") and persian.has_foreign_digits("①")
    assert not persian.has_foreign_digits("۰۴۹۹۳۷۰۸۹۹ ０")


@pytest.mark.parametrize("code", ["049937089⁹", "04993708①⑨", "０４９９３７０８９９\ud800"])
def test_a_national_id_with_digits_that_are_not_decimal_is_invalid(code):
    assert not persian.is_valid_national_id(code)


def test_a_national_id_in_fullwidth_digits_is_normalised_to_ascii():
    assert persian.normalize_national_id("０４９９３７０８９９") == "0499370899"


def test_a_mobile_with_a_superscript_digit_is_not_a_mobile():
    assert persian.normalize_mobile("0912123456⁷") is None


@pytest.mark.parametrize("value", [date(1, 1, 1), date(9999, 12, 31)])
def test_a_stored_day_outside_the_jalali_range_is_shown_in_iso(value):
    assert jalali.format_date(value) == value.isoformat()


@pytest.mark.parametrize("value", [datetime(1, 1, 1, tzinfo=UTC),
                                   datetime(9999, 12, 31, 23, 0, tzinfo=UTC)])
def test_a_stored_instant_outside_the_jalali_range_is_shown_in_iso(value):
    assert jalali.format_datetime(value) == value.isoformat()


def test_a_tehran_time_written_in_jalali_is_the_right_instant():
    assert jalali.parse_datetime("۱۴۰۵/۰۹/۰۸ ۰۹:۳۰") == datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    assert jalali.format_datetime(datetime(2026, 11, 29, 6, 0, tzinfo=UTC)) == "1405/09/08 09:30"


@pytest.mark.parametrize("raw", ["0001-01-01T00:00", "9999-12-31T23:59+00:00", "1405/13/40 25:00",
                                 "فردا"])
def test_instants_no_one_can_mean_are_refused_in_persian(raw):
    with pytest.raises(ValueError, match="زمان معتبر نیست"):
        jalali.parse_datetime(raw)
