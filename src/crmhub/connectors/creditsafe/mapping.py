"""Creditsafe's Connect company report, described as a `BureauMapping` (data, not code).

Paths follow the report of ``GET /companies/{connectId}``. The common band (`commonValue`
A..E) is already bureau-neutral; the provider score is scaled to 0-100 from the min/max the
report states, because its range differs by country.
"""

from __future__ import annotations

from typing import Any

from crmhub.connectors.credit import BureauMapping

_SUMMARY = "report.companySummary"
_RATING = "report.companySummary.creditRating"
_BASIC = "report.companyIdentification.basicInformation"
_ADDRESS = "report.contactInformation.mainAddress"

CREDITSAFE_MAPPING_DATA: dict[str, Any] = {
    "bureau": "creditsafe",
    "fields": {
        "company_id": ["report.companyId", "companyId"],
        "company_name": [f"{_SUMMARY}.businessName", f"{_BASIC}.registeredCompanyName"],
        "registration_number": [
            f"{_SUMMARY}.companyRegistrationNumber",
            f"{_BASIC}.companyRegistrationNumber",
        ],
        "vat_number": f"{_BASIC}.vatRegistrationNumber",
        "street": {"path": [f"{_ADDRESS}.houseNumber", f"{_ADDRESS}.street"], "join": " "},
        "city": f"{_ADDRESS}.city",
        "postal_code": f"{_ADDRESS}.postalCode",
        "region": f"{_ADDRESS}.province",
        "country": [f"{_SUMMARY}.country", f"{_ADDRESS}.country", f"{_BASIC}.country"],
        "phone": f"{_ADDRESS}.telephone",
        "credit_limit": f"{_RATING}.creditLimit.value",
        "currency": f"{_RATING}.creditLimit.currency",
        "score": {
            "path": f"{_RATING}.providerValue.value",
            "scale": {
                "min": 0,
                "max": 100,
                "min_path": f"{_RATING}.providerValue.minValue",
                "max_path": f"{_RATING}.providerValue.maxValue",
            },
        },
        "risk_band": {
            "path": f"{_RATING}.commonValue",
            "values": {"A": "A", "B": "B", "C": "C", "D": "D", "E": "E"},
        },
        "risk_description": f"{_RATING}.commonDescription",
        "status": {
            "path": [f"{_SUMMARY}.companyStatus.status", f"{_BASIC}.companyStatus.status"],
            "values": {
                "Active": "active",
                "NonActive": "inactive",
                "Non-Active": "inactive",
                "Inactive": "inactive",
                "Dissolved": "dissolved",
                "Liquidation": "insolvent",
                "Insolvency": "insolvent",
                "Administration": "insolvent",
                "Receivership": "insolvent",
                "Pending": "pending",
                "Other": "other",
            },
        },
        "assessed_at": "report.creditScore.latestRatingChangeDate",
    },
    "extra": {
        # the tax id the hub matches on: the VAT number, else the company registration number
        "tax_id": [
            f"{_BASIC}.vatRegistrationNumber",
            f"{_SUMMARY}.companyRegistrationNumber",
            f"{_BASIC}.companyRegistrationNumber",
        ],
    },
}
"""The default mapping as plain data: copy it to YAML to adapt it."""

CREDITSAFE_MAPPING = BureauMapping.model_validate(CREDITSAFE_MAPPING_DATA)
