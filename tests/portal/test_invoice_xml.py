"""The e-invoice alone: the dealer downloads the Factur-X XML that the stored PDF carries."""

import pytest
from django.urls import reverse

from billing.invoicing.facturx import facturx_xml_from_pdf

pytestmark = pytest.mark.django_db


def test_the_dealer_downloads_the_xml_the_pdf_carries(client, dealers):
    dealer = dealers["dupont"]
    client.force_login(dealer.user)
    invoice = dealer.invoice
    url = reverse("portal:invoice_xml", args=[dealer.customer.code, invoice.number])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.xml"'
    assert response.content == facturx_xml_from_pdf(bytes(invoice.pdf))
    assert f"<ram:ID>{invoice.number}</ram:ID>".encode() in response.content
    page = client.get(reverse("portal:invoices", args=[dealer.customer.code])).content.decode()
    assert f'href="{url}"' in page
