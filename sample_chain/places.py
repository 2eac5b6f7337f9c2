"""Geography vocabulary: cities (with real districts) and common road names."""

from __future__ import annotations

# city -> (relative size, districts without the 区 suffix)
CITIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "广州": (1.4, ("天河", "越秀", "海珠", "番禺", "白云")),
    "深圳": (1.3, ("福田", "南山", "罗湖", "宝安", "龙岗")),
    "上海": (1.3, ("徐汇", "静安", "浦东新", "黄浦", "闵行")),
    "北京": (1.1, ("朝阳", "海淀", "东城", "西城", "丰台")),
    "成都": (1.0, ("锦江", "武侯", "青羊", "金牛", "成华")),
    "武汉": (0.9, ("江汉", "武昌", "洪山", "江岸", "汉阳")),
    "杭州": (0.9, ("西湖", "上城", "拱墅", "滨江", "余杭")),
    "南京": (0.8, ("鼓楼", "玄武", "秦淮", "建邺", "江宁")),
    "重庆": (0.9, ("渝中", "江北", "南岸", "沙坪坝", "九龙坡")),
    "西安": (0.7, ("雁塔", "碑林", "新城", "莲湖", "未央")),
    "长沙": (0.7, ("芙蓉", "天心", "岳麓", "开福", "雨花")),
    "郑州": (0.6, ("金水", "二七", "中原", "管城")),
    "佛山": (0.6, ("禅城", "南海", "顺德")),
    "厦门": (0.5, ("思明", "湖里", "集美")),
    "南宁": (0.5, ("青秀", "兴宁", "西乡塘")),
    "昆明": (0.5, ("五华", "盘龙", "官渡")),
}

CITY_NAMES: tuple[str, ...] = tuple(CITIES)
CITY_WEIGHTS: tuple[float, ...] = tuple(v[0] for v in CITIES.values())

# Flattened district list, and where each city's districts start in it.
DISTRICTS: tuple[str, ...] = tuple(d + "区" for v in CITIES.values() for d in v[1])
DISTRICT_START: tuple[int, ...] = tuple(
    sum(len(v[1]) for v in list(CITIES.values())[:i]) for i in range(len(CITIES))
)
DISTRICT_COUNT: tuple[int, ...] = tuple(len(v[1]) for v in CITIES.values())

# Road names every Chinese city has one of.
ROADS: tuple[str, ...] = (
    "中山路", "人民路", "解放路", "建设路", "新华路", "文化路", "胜利路", "和平路",
    "光明路", "友谊路", "长江路", "黄河路", "朝阳路", "青年路", "工农路", "幸福路",
    "学府路", "花园路", "东风路", "滨江路", "环城路", "建国路", "民主路", "延安路",
    "北京路", "南京路", "五一路", "八一路", "红旗路", "迎宾大道", "世纪大道", "金融街",
)
