"""/docs in a real Chromium: Swagger UI renders every operation of the document from local files,
with the Authorize button of the security schemes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.browser import console_errors, opened, wait_for
from tests.conftest import Deployment

pytestmark = pytest.mark.browser


def test_swagger_ui_shows_every_operation_and_authorize(local_deployment: Deployment, tmp_path: Path) -> None:
    document = httpx.get(f"{local_deployment.base_url}/openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    with opened(tmp_path) as driver:
        driver.get(f"{local_deployment.base_url}/docs")
        shown = wait_for(
            driver,
            lambda d: (blocks := d.find_elements(By.CSS_SELECTOR, ".opblock")) and len(blocks) >= operations,
        )
        assert shown
        assert driver.find_elements(By.CSS_SELECTOR, ".btn.authorize")
        assert "Unable to render" not in driver.page_source
        assert not console_errors(driver)
