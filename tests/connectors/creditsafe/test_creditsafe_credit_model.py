"""The bureau-neutral credit model: Creditsafe's mapping, and a second bureau with no new code."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from tests.fakes.creditsafe import FakeCompany

from crmhub.connectors.credit import (
    BureauMapping,
    CreditAssessment,
    MappingError,
    decimal_text,
    iso_utc,
    parse_path,
    resolve_path,
)
from crmhub.connectors.creditsafe.mapping import CREDITSAFE_MAPPING
from crmhub.errors import RecordError

NORTHWIND = FakeCompany(
    id="GB-0-01234567",
    name="Northwind Trading Ltd",
    reg_no="01234567",
    vat_no="GB123456789",
    street="12 Harbour Road",
    city="Bristol",
    postal_code="BS1 5TY",
    phone="+44 117 496 0000",
    status="Active",
    rating="A",
    rating_description="Very Low Risk",
    score="78",
    credit_limit="25000.00",
    currency="GBP",
    rating_changed=datetime(2024, 5, 1, 9, 42, tzinfo=UTC),
)

EXPECTED = CreditAssessment(
    bureau="creditsafe",
    company_id="GB-0-01234567",
    company_name="Northwind Trading Ltd",
    registration_number="01234567",
    vat_number="GB123456789",
    street="12 Harbour Road",
    city="Bristol",
    postal_code="BS1 5TY",
    region=None,
    country="GB",
    phone="+44 117 496 0000",
    credit_limit="25000",
    currency="GBP",
    score=78,
    risk_band="A",
    risk_description="Very Low Risk",
    status="active",
    assessed_at="2024-05-01T09:42:00+00:00",
)

# A made-up second bureau: another JSON shape, another id, a risk class 1-5, a delinquency
# score where high is bad, a lower-case currency, a local time with an offset.
OTHER_BUREAU_REPORT: dict[str, Any] = {
    "organization": {
        "duns": "219876543",
        "primaryName": "Northwind Trading Ltd",
        "registrationNumbers": [
            {"typeCode": "VAT", "registrationNumber": "GB123456789"},
            {"typeCode": "CRN", "registrationNumber": "01234567"},
        ],
        "primaryAddress": {
            "streetAddress": {"line1": "12 Harbour Road"},
            "addressLocality": {"name": "Bristol"},
            "postalCode": "BS1 5TY",
            "addressCountry": {"isoAlpha2Code": "gb"},
        },
        "telephone": [{"telephoneNumber": "+44 117 496 0000"}],
        "operatingStatus": "Trading",
        "riskAssessment": {
            "riskClass": 1,
            "riskClassText": "Very Low Risk",
            "delinquencyScore": 22,
            "maximumCredit": {"amount": 25000.0, "currency": "gbp"},
            "assessedOn": "2024-05-01T10:42:00+01:00",
        },
    }
}

OTHER_BUREAU_YAML = """
bureau: otherbureau
fields:
  company_id: organization.duns
  company_name: organization.primaryName
  registration_number: organization.registrationNumbers[typeCode=CRN].registrationNumber
  vat_number: organization.registrationNumbers[typeCode=VAT].registrationNumber
  street:
    path: [organization.primaryAddress.streetAddress.line1,
           organization.primaryAddress.streetAddress.line2]
    join: ", "
  city: organization.primaryAddress.addressLocality.name
  postal_code: organization.primaryAddress.postalCode
  country: organization.primaryAddress.addressCountry.isoAlpha2Code
  phone: organization.telephone.0.telephoneNumber
  credit_limit: organization.riskAssessment.maximumCredit.amount
  currency: organization.riskAssessment.maximumCredit.currency
  score:
    path: organization.riskAssessment.delinquencyScore
    scale: {min: 0, max: 100, higher_is_better: false}
  risk_band:
    path: organization.riskAssessment.riskClass
    values: {1: A, 2: B, 3: C, 4: D, 5: E}
  risk_description: organization.riskAssessment.riskClassText
  status:
    path: organization.operatingStatus
    values: {trading: active, dormant: inactive, "out of business": dissolved}
  assessed_at: organization.riskAssessment.assessedOn
"""


def test_creditsafe_report_becomes_the_assessment() -> None:
    assert CREDITSAFE_MAPPING.assess(NORTHWIND.report()) == EXPECTED


def test_creditsafe_record_is_flat_with_the_tax_id_column() -> None:
    record = CREDITSAFE_MAPPING.record(NORTHWIND.report())
    assert record == {**EXPECTED.as_record(), "tax_id": "GB123456789"}
    assert all(v is None or isinstance(v, str | int) for v in record.values())
    assert tuple(record) == CREDITSAFE_MAPPING.columns


def test_tax_id_falls_back_to_the_registration_number() -> None:
    no_vat = dataclasses.replace(NORTHWIND, vat_no=None)
    assert CREDITSAFE_MAPPING.record(no_vat.report())["tax_id"] == "01234567"


def test_a_second_bureau_is_a_mapping_not_code(tmp_path: Path) -> None:
    path = tmp_path / "otherbureau.yaml"
    path.write_text(OTHER_BUREAU_YAML)
    other = BureauMapping.from_yaml(path).assess(OTHER_BUREAU_REPORT)
    assert other.bureau == "otherbureau"
    assert other.company_id == "219876543"
    assert dataclasses.replace(other, bureau="creditsafe", company_id=EXPECTED.company_id) == (
        EXPECTED
    )


def test_a_mapping_may_also_be_a_plain_dict() -> None:
    mapping = BureauMapping.model_validate(yaml.safe_load(OTHER_BUREAU_YAML))
    assert mapping.assess(OTHER_BUREAU_REPORT).risk_band == "A"


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"status": "NonActive"}, "status", "inactive"),
        ({"status": "Liquidation"}, "status", "insolvent"),
        ({"status": "Struck off (pending)"}, "status", "Struck off (pending)"),  # kept as is
        ({"rating": "e"}, "risk_band", "E"),
        ({"score": "1"}, "score", 0),
        ({"score": "100"}, "score", 100),
        ({"score": "A"}, "score", None),  # a letter-only local rating has no 0-100 score
        ({"credit_limit": "1250.50"}, "credit_limit", "1250.5"),
        ({"credit_limit": "0.00"}, "credit_limit", "0"),
        ({"credit_limit": None}, "credit_limit", None),
        ({"vat_no": "  "}, "vat_number", None),
    ],
)
def test_creditsafe_values_are_normalised(
    change: dict[str, Any], field: str, expected: Any
) -> None:
    report = dataclasses.replace(NORTHWIND, **change).report()
    assert getattr(CREDITSAFE_MAPPING.assess(report), field) == expected


def test_a_new_report_field_changes_nothing() -> None:
    drifted = dataclasses.replace(NORTHWIND, extra={"esgScore": {"value": 71}, "newFlag": True})
    assert CREDITSAFE_MAPPING.assess(drifted.report()) == EXPECTED


def test_a_report_without_company_id_is_a_record_error() -> None:
    report = NORTHWIND.report()
    del report["report"]["companyId"]
    with pytest.raises(RecordError, match=r"company_id: no value at report\.companyId"):
        CREDITSAFE_MAPPING.assess(report)


def test_a_limit_that_is_not_a_number_names_the_field() -> None:
    report = dataclasses.replace(NORTHWIND, credit_limit="n/a").report()
    with pytest.raises(MappingError, match=r"credit_limit: 'n/a' is not an amount"):
        CREDITSAFE_MAPPING.assess(report)


def test_a_path_at_an_object_is_a_mapping_error() -> None:
    mapping = BureauMapping.model_validate(
        {"bureau": "x", "fields": {"company_id": "id", "company_name": "name"}}
    )
    with pytest.raises(MappingError, match="company_name: name holds an object"):
        mapping.assess({"id": "1", "name": {"legal": "X"}})


INVALID_MAPPINGS = [
    ({"fields": {"company_name": "a"}}, "'company_id' is required"),
    ({"fields": {"company_id": "a", "turnover": "b"}}, "unknown field(s) turnover"),
    ({"fields": {"company_id": "a..b"}}, "bad path 'a..b'"),
    ({"fields": {"company_id": "a[k]"}}, "bad path"),
    ({"fields": {"company_id": {"values": {"x": "y"}}}}, "give a 'path'"),
    (
        {"fields": {"company_id": "a", "city": {"path": "c", "scale": {"min": 1}}}},
        "'scale' applies to 'score' only",
    ),
    ({"fields": {"company_id": "a"}, "extra": {"city": "c"}}, "clash with assessment fields"),
    ({"fields": {"company_id": "a", "status": {"path": "s", "valuez": {}}}}, "Extra inputs"),
    (
        {"fields": {"company_id": "a", "status": {"path": "s", "values": {"A": "x", "a": "y"}}}},
        "listed twice",
    ),
]


@pytest.mark.parametrize(("change", "message"), INVALID_MAPPINGS)
def test_invalid_mappings_are_refused_with_a_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        BureauMapping.model_validate({"bureau": "x", **change})


@pytest.mark.parametrize(
    ("document", "path", "expected"),
    [
        ({"a": {"b": [10, 20]}}, "a.b.1", 20),
        ({"a": {"b": [10]}}, "a.b.3", None),
        ({"a": [{"t": "X", "v": 1}, {"t": "Y", "v": 2}]}, "a[t=y].v", 2),
        ({"a": [{"t": "X"}]}, "a[t=Z].v", None),
        ({"a": "text"}, "a.b", None),
        ({"a": {"0": "zero"}}, "a.0", "zero"),
    ],
)
def test_paths(document: Any, path: str, expected: Any) -> None:
    assert resolve_path(document, parse_path(path)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:42:00+01:00", "2024-05-01T09:42:00+00:00"),
        ("2024-05-01T09:42:00Z", "2024-05-01T09:42:00+00:00"),
        ("2024-05-01T09:42:00.1234567Z", "2024-05-01T09:42:00.123456+00:00"),
        ("2024-05-01T09:42:00", "2024-05-01T09:42:00+00:00"),
        ("2024-05-01", "2024-05-01T00:00:00+00:00"),
    ],
)
def test_times_become_utc_iso(value: str, expected: str) -> None:
    assert iso_utc(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(25000.0, "25000"), ("1E+3", "1000"), (" 12.340 ", "12.34"), (-5, "-5"), ("0.10", "0.1")],
)
def test_amounts_become_decimal_text(value: Any, expected: str) -> None:
    assert decimal_text(value) == expected


@pytest.mark.parametrize("value", [True, "NaN", "Infinity", "12,5", ""])
def test_non_amounts_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="is not an amount"):
        decimal_text(value)
