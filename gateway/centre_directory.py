"""The service centres by name and telephone, defined once: what a citizen's printed
notice tells them to call, and how a page names a centre instead of its id."""

from __future__ import annotations

import msgspec


class Centre(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name_zh: str
    name_en: str
    phone: str


CENTRES: dict[str, Centre] = {c.id: c for c in (
    Centre(id="liangxi-chongan", name_zh="梁溪区崇安街道便民服务中心",
           name_en="Chong'an Sub-district Service Centre, Liangxi", phone="0510-82701001"),
    Centre(id="binhu-hehu", name_zh="滨湖区河埒街道便民服务中心",
           name_en="Helie Sub-district Service Centre, Binhu", phone="0510-85101002"),
    Centre(id="xinwu-xinan", name_zh="新吴区新安街道便民服务中心",
           name_en="Xin'an Sub-district Service Centre, Xinwu", phone="0510-85201003"),
    Centre(id="xishan-dongting", name_zh="锡山区东亭街道便民服务中心",
           name_en="Dongting Sub-district Service Centre, Xishan", phone="0510-88201004"),
    Centre(id="online-app", name_zh="“一件事”线上办理", name_en="One-thing online service",
           phone="12345"),
)}


def centre_of(centre_id: str | None) -> Centre:
    """The centre by name; an installation's own centre not listed here by its id."""
    if centre_id in CENTRES:
        return CENTRES[centre_id]
    shown = centre_id or "—"
    return Centre(id=shown, name_zh=shown, name_en=shown, phone="12345")
