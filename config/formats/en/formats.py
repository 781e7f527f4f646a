"""English as our customers (Ireland, Germany, Europe at large) write it: day-month order and a
24-hour clock, where Django's English is American ("Nov. 30, 2026", "11/30/2026", "2:30 p.m.").
Numbers stay English: €1,499.00. Read through FORMAT_MODULE_PATH; what is not set here falls
back to Django's English formats.

The *_FORMAT strings use Django's date format syntax, the *_INPUT_FORMATS Python's strptime.
"""

DATE_FORMAT = "j F Y"  # 30 November 2026
TIME_FORMAT = "H:i"  # 14:30
DATETIME_FORMAT = "j F Y, H:i"  # 30 November 2026, 14:30
YEAR_MONTH_FORMAT = "F Y"  # November 2026
MONTH_DAY_FORMAT = "j F"  # 30 November
SHORT_DATE_FORMAT = "d/m/Y"  # 30/11/2026
SHORT_DATETIME_FORMAT = "d/m/Y H:i"  # 30/11/2026 14:30
FIRST_DAY_OF_WEEK = 1  # Monday

# What forms accept: day-month order or ISO, never the American month-day order (11/01/2026
# is 11 January). The first one is what date inputs show (the admin's among them).
DATE_INPUT_FORMATS = [
    "%d/%m/%Y",  # 30/11/2026
    "%Y-%m-%d",  # 2026-11-30
    "%d/%m/%y",  # 30/11/26
    "%d %B %Y",  # 30 November 2026
    "%d %b %Y",  # 30 Nov 2026
]
DATETIME_INPUT_FORMATS = [
    "%d/%m/%Y %H:%M:%S",  # 30/11/2026 14:30:59
    "%d/%m/%Y %H:%M:%S.%f",  # 30/11/2026 14:30:59.000200
    "%d/%m/%Y %H:%M",  # 30/11/2026 14:30
    "%Y-%m-%d %H:%M:%S",  # 2026-11-30 14:30:59
    "%Y-%m-%d %H:%M:%S.%f",  # 2026-11-30 14:30:59.000200
    "%Y-%m-%d %H:%M",  # 2026-11-30 14:30
]
TIME_INPUT_FORMATS = [
    "%H:%M:%S",  # 14:30:59
    "%H:%M:%S.%f",  # 14:30:59.000200
    "%H:%M",  # 14:30
]

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
