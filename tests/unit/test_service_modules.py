"""`python -m shared.run services.<name>.service` (what bin/run does, with nameko's own
service discovery) finds exactly that one service."""

import pytest
from nameko.cli.run import import_service

SERVICES = {"registry": "RegistryService", "licensing": "LicensingService",
            "meetings": "MeetingsService", "notify": "NotifyService"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_module_holds_exactly_its_service(name):
    found = import_service(f"services.{name}.service")
    assert [cls.__name__ for cls in found] == [SERVICES[name]]
    assert found[0].name == name
