"""Texts for the tokenizer fixture.

Class names are a representative subset of the 11 CoOp datasets and ImageNet,
written as the datasets' split files spell them (underscores included; the
fixture also holds the prompt form CoOp builds from them). The other groups
exercise the cleaning steps of simple_tokenizer: punctuation, digits, accents,
emoji, HTML entities, whitespace, contractions and special tokens.
"""

CALTECH101 = """
face leopard motorbike accordion airplane anchor ant barrel bass beaver binocular bonsai brain
brontosaurus buddha butterfly camera cannon car_side ceiling_fan cellphone chair chandelier
cougar_body cougar_face crab crayfish crocodile crocodile_head cup dalmatian dollar_bill dolphin
dragonfly electric_guitar elephant emu euphonium ewer ferry flamingo flamingo_head garfield
gerenuk gramophone grand_piano hawksbill headphone hedgehog helicopter ibis inline_skate
joshua_tree kangaroo ketch lamp laptop llama lobster lotus mandolin mayfly menorah metronome
minaret nautilus octopus okapi pagoda panda pigeon pizza platypus pyramid revolver rhino
rooster saxophone schooner scissors scorpion sea_horse snoopy soccer_ball stapler starfish
stegosaurus stop_sign strawberry sunflower tick trilobite umbrella watch water_lilly wheelchair
wild_cat windsor_chair wrench yin_yang
""".split()

OXFORD_PETS = """
abyssinian american_bulldog american_pit_bull_terrier basset_hound beagle bengal birman bombay
boxer british_shorthair chihuahua egyptian_mau english_cocker_spaniel english_setter
german_shorthaired great_pyrenees havanese japanese_chin keeshond leonberger maine_coon
miniature_pinscher newfoundland persian pomeranian pug ragdoll russian_blue saint_bernard
samoyed scottish_terrier shiba_inu siamese sphynx staffordshire_bull_terrier wheaten_terrier
yorkshire_terrier
""".split()

OXFORD_FLOWERS = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
    "english marigold", "tiger lily", "moon orchid", "bird of paradise", "monkshood",
    "globe thistle", "snapdragon", "colt's foot", "king protea", "spear thistle",
    "yellow iris", "globe-flower", "purple coneflower", "peruvian lily", "balloon flower",
    "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian",
    "artichoke", "sweet william", "carnation", "garden phlox", "love in the mist",
    "mexican aster", "alpine sea holly", "ruby-lipped cattleya", "cape flower",
    "great masterwort", "siam tulip", "lenten rose", "barbeton daisy", "daffodil",
    "sword lily", "poinsettia", "bolero deep blue", "wallflower", "marigold", "buttercup",
    "oxeye daisy", "common dandelion", "petunia", "wild pansy", "primula", "sunflower",
    "pelargonium", "bishop of llandaff", "gaura", "geranium", "orange dahlia",
    "pink-yellow dahlia?", "cautleya spicata", "japanese anemone", "black-eyed susan",
    "silverbush", "californian poppy", "osteospermum", "spring crocus", "bearded iris",
    "windflower", "tree poppy", "gazania", "azalea", "water lily", "rose", "thorn apple",
    "morning glory", "passion flower", "lotus", "toad lily", "anthurium", "frangipani",
    "clematis", "hibiscus", "columbine", "desert-rose", "tree mallow", "magnolia",
    "cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "ball moss",
    "foxglove", "bougainvillea", "camellia", "mallow", "mexican petunia", "bromelia",
    "blanket flower", "trumpet creeper", "blackberry lily",
]

FGVC_AIRCRAFT = [
    "707-320", "727-200", "737-200", "737-300", "737-400", "737-500", "737-600", "737-700",
    "737-800", "737-900", "747-100", "747-200", "747-300", "747-400", "757-200", "757-300",
    "767-200", "767-300", "767-400", "777-200", "777-300", "A300B4", "A310", "A318", "A319",
    "A320", "A321", "A330-200", "A330-300", "A340-200", "A340-300", "A340-500", "A340-600",
    "A380", "ATR-42", "ATR-72", "An-12", "BAE 146-200", "BAE 146-300", "BAE-125",
    "Beechcraft 1900", "Boeing 717", "C-130", "C-47", "CRJ-200", "CRJ-700", "CRJ-900",
    "Cessna 172", "Cessna 208", "Cessna 525", "Cessna 560", "Challenger 600", "DC-10",
    "DC-3", "DC-6", "DC-8", "DC-9-30", "DH-82", "DHC-1", "DHC-6", "DHC-8-100", "DHC-8-300",
    "DR-400", "Dornier 328", "E-170", "E-190", "E-195", "EMB-120", "ERJ 135", "ERJ 145",
    "Embraer Legacy 600", "Eurofighter Typhoon", "F-16A/B", "F/A-18", "Falcon 2000",
    "Falcon 900", "Fokker 100", "Fokker 50", "Fokker 70", "Global Express",
    "Gulfstream IV", "Gulfstream V", "Hawk T1", "Il-76", "L-1011", "MD-11", "MD-80",
    "MD-87", "MD-90", "Metroliner", "Model B200", "PA-28", "SR-20", "Saab 2000",
    "Saab 340", "Spitfire", "Tornado", "Tu-134", "Tu-154", "Yak-42",
]

DTD = """
banded blotchy braided bubbly bumpy chequered cobwebbed cracked crosshatched crystalline
dotted fibrous flecked freckled frilly gauzy grid grooved honeycombed interlaced knitted
lacelike lined marbled matted meshed paisley perforated pitted pleated polka-dotted porous
potholed scaly smeared spiralled sprinkled stained stratified striped studded swirly veined
waffled woven wrinkled zigzagged
""".split()

EUROSAT = [
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
    "PermanentCrop", "Residential", "River", "SeaLake",
    "Annual Crop Land", "Herbaceous Vegetation Land", "Industrial Buildings",
    "Pasture Land", "Permanent Crop Land", "Residential Buildings", "Sea or Lake",
]

UCF101 = """
Apply_Eye_Makeup Apply_Lipstick Archery Baby_Crawling Balance_Beam Band_Marching
Baseball_Pitch Basketball Basketball_Dunk Bench_Press Biking Billiards Blow_Dry_Hair
Blowing_Candles Body_Weight_Squats Bowling Boxing_Punching_Bag Boxing_Speed_Bag
Breast_Stroke Brushing_Teeth Clean_And_Jerk Cliff_Diving Cricket_Bowling Cricket_Shot
Cutting_In_Kitchen Diving Drumming Fencing Field_Hockey_Penalty Floor_Gymnastics
Frisbee_Catch Front_Crawl Golf_Swing Haircut Hammer_Throw Hammering Hand_Stand_Pushups
Handstand_Walking Head_Massage High_Jump Horse_Race Horse_Riding Hula_Hoop Ice_Dancing
Javelin_Throw Juggling_Balls Jump_Rope Jumping_Jack Kayaking Knitting Long_Jump Lunges
Military_Parade Mixing Mopping_Floor Nunchucks Parallel_Bars Pizza_Tossing
Playing_Cello Playing_Daf Playing_Dhol Playing_Flute Playing_Guitar Playing_Piano
Playing_Sitar Playing_Tabla Playing_Violin Pole_Vault Pommel_Horse Pull_Ups Punch
Push_Ups Rafting Rock_Climbing_Indoor Rope_Climbing Rowing Salsa_Spin Shaving_Beard
Shotput Skate_Boarding Skiing Skijet Sky_Diving Soccer_Juggling Soccer_Penalty
Still_Rings Sumo_Wrestling Surfing Swing Table_Tennis_Shot Tai_Chi Tennis_Swing
Throw_Discus Trampoline_Jumping Typing Uneven_Bars Volleyball_Spiking
Walking_With_Dog Wall_Pushups Writing_On_Board Yo_Yo
""".split()

FOOD101 = """
apple_pie baby_back_ribs baklava beef_carpaccio beef_tartare beet_salad beignets bibimbap
bread_pudding breakfast_burrito bruschetta caesar_salad cannoli caprese_salad carrot_cake
ceviche cheese_plate cheesecake chicken_curry chicken_quesadilla chicken_wings
chocolate_cake chocolate_mousse churros clam_chowder club_sandwich crab_cakes creme_brulee
croque_madame cup_cakes deviled_eggs donuts dumplings edamame eggs_benedict escargots
falafel filet_mignon fish_and_chips foie_gras french_fries french_onion_soup french_toast
fried_calamari fried_rice frozen_yogurt garlic_bread gnocchi greek_salad
grilled_cheese_sandwich grilled_salmon guacamole gyoza hamburger hot_and_sour_soup hot_dog
huevos_rancheros hummus ice_cream lasagna lobster_bisque lobster_roll_sandwich
macaroni_and_cheese macarons miso_soup mussels nachos omelette onion_rings oysters
pad_thai paella pancakes panna_cotta peking_duck pho pizza pork_chop poutine prime_rib
pulled_pork_sandwich ramen ravioli red_velvet_cake risotto samosa sashimi scallops
seaweed_salad shrimp_and_grits spaghetti_bolognese spaghetti_carbonara spring_rolls steak
strawberry_shortcake sushi tacos takoyaki tiramisu tuna_tartare waffles
""".split()

SUN397 = [
    "abbey", "airplane_cabin", "airport_terminal", "alley", "amphitheater", "amusement_arcade",
    "amusement_park", "anechoic_chamber", "apartment_building/outdoor", "apse/indoor",
    "aquarium", "aqueduct", "arch", "archive", "arrival_gate/outdoor", "art_gallery",
    "art_school", "art_studio", "assembly_line", "athletic_field/outdoor", "atrium/public",
    "attic", "auditorium", "auto_factory", "badlands", "badminton_court/indoor",
    "baggage_claim", "bakery/shop", "balcony/exterior", "balcony/interior", "ball_pit",
    "ballroom", "bamboo_forest", "banquet_hall", "bar", "barn", "barndoor", "baseball_field",
    "basement", "basilica", "basketball_court/outdoor", "bathroom", "batters_box", "bayou",
    "bazaar/indoor", "bazaar/outdoor", "beach", "beauty_salon", "bedroom", "berth",
    "biology_laboratory", "bistro/indoor", "boardwalk", "boat_deck", "boathouse", "bookstore",
    "booth/indoor", "botanical_garden", "bow_window/indoor", "bow_window/outdoor",
    "bowling_alley", "boxing_ring", "brewery/indoor", "bridge", "building_facade",
    "bullring", "burial_chamber", "bus_interior", "butchers_shop", "butte",
    "cabin/outdoor", "cafeteria", "campsite", "campus", "canal/natural", "canal/urban",
    "candy_store", "canyon", "car_interior/backseat", "car_interior/frontseat", "carrousel",
    "casino/indoor", "castle", "catacomb", "cathedral/indoor", "cathedral/outdoor",
    "cavern/indoor", "cemetery", "chalet", "cheese_factory", "chemistry_lab",
    "chicken_coop/indoor", "childs_room", "church/indoor", "church/outdoor", "classroom",
    "clean_room", "cliff", "cloister/indoor", "closet", "clothing_store", "coast",
    "cockpit", "coffee_shop", "computer_room", "conference_center", "conference_room",
    "construction_site", "control_room", "control_tower/outdoor", "corn_field", "corral",
    "corridor", "cottage_garden", "courthouse", "courtroom", "courtyard", "covered_bridge/exterior",
    "creek", "crevasse", "crosswalk", "cubicle/office", "dam", "delicatessen",
    "dentists_office", "desert/sand", "desert/vegetation", "diner/indoor", "diner/outdoor",
    "dinette/home", "dinette/vehicle", "dining_car", "dining_room", "discotheque", "dock",
    "doorway/outdoor", "dorm_room", "driveway", "driving_range/outdoor", "drugstore",
    "electrical_substation", "elevator/door", "elevator/interior", "elevator_shaft",
    "engine_room", "escalator/indoor", "excavation", "factory/indoor", "fairway",
    "fastfood_restaurant", "field/cultivated", "field/wild", "fire_escape", "fire_station",
    "firing_range/indoor", "fishpond", "florist_shop/indoor", "food_court", "forest/broadleaf",
    "forest/needleleaf", "forest_path", "forest_road", "formal_garden", "fountain",
]

STANFORD_CARS = [
    "AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012",
    "Acura TL Type-S 2008", "Acura TSX Sedan 2012", "Acura Integra Type R 2001",
    "Acura ZDX Hatchback 2012", "Aston Martin V8 Vantage Convertible 2012",
    "Aston Martin Virage Coupe 2012", "Audi RS 4 Convertible 2008", "Audi A5 Coupe 2012",
    "Audi TTS Coupe 2012", "Audi R8 Coupe 2012", "Audi V8 Sedan 1994", "Audi 100 Wagon 1994",
    "Audi S4 Sedan 2007", "BMW ActiveHybrid 5 Sedan 2012", "BMW 1 Series Convertible 2012",
    "BMW M3 Coupe 2012", "BMW X5 SUV 2007", "BMW Z4 Convertible 2012",
    "Bentley Continental Supersports Conv. Convertible 2012", "Bugatti Veyron 16.4 Coupe 2009",
    "Buick Rainier SUV 2007", "Cadillac CTS-V Sedan 2012", "Cadillac Escalade EXT Crew Cab 2007",
    "Chevrolet Silverado 1500 Hybrid Crew Cab 2012", "Chevrolet Corvette ZR1 2012",
    "Chevrolet Express Cargo Van 2007", "Chrysler Town and Country Minivan 2012",
    "Dodge Ram Pickup 3500 Crew Cab 2010", "Dodge Sprinter Cargo Van 2009",
    "Eagle Talon Hatchback 1998", "FIAT 500 Abarth 2012", "Ferrari 458 Italia Convertible 2012",
    "Fisker Karma Sedan 2012", "Ford F-450 Super Duty Crew Cab 2012", "Ford GT Coupe 2006",
    "GMC Savana Van 2012", "Geo Metro Convertible 1993", "HUMMER H3T Crew Cab 2010",
    "Honda Odyssey Minivan 2012", "Hyundai Veloster Hatchback 2012", "Infiniti QX56 SUV 2011",
    "Jaguar XK XKR 2012", "Jeep Grand Cherokee SUV 2012", "Lamborghini Aventador Coupe 2012",
    "Land Rover Range Rover SUV 2012", "McLaren MP4-12C Coupe 2012",
    "Mercedes-Benz SL-Class Coupe 2009", "Mercedes-Benz Sprinter Van 2012",
    "Nissan 240SX Coupe 1998", "Plymouth Neon Coupe 1999", "Porsche Panamera Sedan 2012",
    "Ram C/V Cargo Van Minivan 2012", "Rolls-Royce Phantom Drophead Coupe Convertible 2012",
    "Scion xD Hatchback 2012", "Spyker C8 Convertible 2009", "Suzuki SX4 Sedan 2012",
    "Tesla Model S Sedan 2012", "Toyota Camry Sedan 2012", "Volkswagen Beetle Hatchback 2012",
    "Volvo C30 Hatchback 2012", "smart fortwo Convertible 2012",
]

IMAGENET = [
    "tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark",
    "electric ray", "stingray", "rooster", "hen", "ostrich", "brambling", "goldfinch",
    "house finch", "junco", "indigo bunting", "American robin", "bulbul", "jay", "magpie",
    "chickadee", "American dipper", "kite (bird of prey)", "bald eagle", "vulture",
    "great grey owl", "fire salamander", "smooth newt", "newt", "spotted salamander",
    "axolotl", "American bullfrog", "tree frog", "tailed frog", "loggerhead sea turtle",
    "leatherback sea turtle", "mud turtle", "terrapin", "box turtle", "banded gecko",
    "green iguana", "Carolina anole", "desert grassland whiptail lizard", "agama",
    "frilled-necked lizard", "alligator lizard", "Gila monster", "European green lizard",
    "chameleon", "Komodo dragon", "Nile crocodile", "American alligator", "triceratops",
    "worm snake", "ring-necked snake", "eastern hog-nosed snake", "smooth green snake",
    "kingsnake", "garter snake", "water snake", "vine snake", "night snake",
    "boa constrictor", "African rock python", "Indian cobra", "green mamba", "sea snake",
    "Saharan horned viper", "eastern diamondback rattlesnake", "sidewinder rattlesnake",
    "trilobite", "harvestman", "scorpion", "yellow garden spider", "barn spider",
    "European garden spider", "southern black widow", "tarantula", "wolf spider", "tick",
    "centipede", "black grouse", "ptarmigan", "ruffed grouse", "prairie grouse", "peafowl",
    "quail", "partridge", "african grey parrot", "macaw", "sulphur-crested cockatoo",
    "lorikeet", "coucal", "bee eater", "hornbill", "hummingbird", "jacamar", "toucan",
    "red-breasted merganser", "goose", "black swan", "tusker", "echidna", "platypus",
    "Shih Tzu", "Blenheim spaniel", "Rhodesian Ridgeback", "Afghan Hound", "Basset Hound",
    "Bloodhound", "Bluetick Coonhound", "Black and Tan Coonhound", "Treeing Walker Coonhound",
    "English foxhound", "Redbone Coonhound", "borzoi", "Irish Wolfhound", "Italian Greyhound",
    "Whippet", "Ibizan Hound", "Norwegian Elkhound", "Otterhound", "Saluki",
    "Scottish Deerhound", "Weimaraner", "Staffordshire Bull Terrier",
    "American Staffordshire Terrier", "Bedlington Terrier", "Border Terrier",
    "Kerry Blue Terrier", "Irish Terrier", "Norfolk Terrier", "Norwich Terrier",
    "Yorkshire Terrier", "Wire Fox Terrier", "Lakeland Terrier", "Sealyham Terrier",
    "Airedale Terrier", "Cairn Terrier", "Australian Terrier", "Dandie Dinmont Terrier",
    "Boston Terrier", "Miniature Schnauzer", "Giant Schnauzer", "Standard Schnauzer",
    "Scottish Terrier", "Tibetan Terrier", "Australian Silky Terrier",
    "Soft-coated Wheaten Terrier", "West Highland White Terrier", "Lhasa Apso",
    "Flat-Coated Retriever", "Curly-coated Retriever", "Golden Retriever",
    "Labrador Retriever", "Chesapeake Bay Retriever", "German Shorthaired Pointer",
    "Vizsla", "English Setter", "Irish Setter", "Gordon Setter", "Brittany dog",
    "Clumber Spaniel", "English Springer Spaniel", "Welsh Springer Spaniel",
    "Cocker Spaniel", "Sussex Spaniel", "Irish Water Spaniel", "Kuvasz", "Schipperke",
    "Groenendael dog", "Malinois", "Briard", "Australian Kelpie", "Komondor",
    "Old English Sheepdog", "Shetland Sheepdog", "collie", "Border Collie",
    "Bouvier des Flandres dog", "Rottweiler", "German Shepherd Dog", "Dobermann",
    "Miniature Pinscher", "Greater Swiss Mountain Dog", "Bernese Mountain Dog",
    "Appenzeller Sennenhund", "Entlebucher Sennenhund", "Boxer", "Bullmastiff",
    "Tibetan Mastiff", "French Bulldog", "Great Dane", "St. Bernard", "husky",
    "Alaskan Malamute", "Siberian Husky", "Dalmatian", "Affenpinscher", "Basenji", "pug",
    "Leonberger", "Newfoundland dog", "Great Pyrenees dog", "Samoyed", "Pomeranian",
    "Chow Chow", "Keeshond", "brussels griffon", "Pembroke Welsh Corgi",
    "Cardigan Welsh Corgi", "Toy Poodle", "Miniature Poodle", "Standard Poodle",
    "Mexican hairless dog (xoloitzcuintli)", "grey wolf", "Alaskan tundra wolf",
    "red wolf or maned wolf", "coyote", "dingo", "dhole", "African wild dog", "hyena",
    "red fox", "kit fox", "Arctic fox", "grey fox", "tabby cat", "tiger cat",
    "Persian cat", "Siamese cat", "Egyptian Mau", "cougar", "lynx", "leopard",
    "snow leopard", "jaguar", "lion", "tiger", "cheetah", "brown bear", "American black bear",
    "polar bear", "sloth bear", "mongoose", "meerkat", "tiger beetle", "ladybug",
    "ground beetle", "longhorn beetle", "leaf beetle", "dung beetle", "rhinoceros beetle",
    "weevil", "fly", "bee", "ant", "grasshopper", "cricket insect", "stick insect",
    "cockroach", "praying mantis", "cicada", "leafhopper", "lacewing", "dragonfly",
    "damselfly", "red admiral butterfly", "ringlet butterfly", "monarch butterfly",
    "small white butterfly", "sulphur butterfly", "gossamer-winged butterfly", "starfish",
    "sea urchin", "sea cucumber", "cottontail rabbit", "hare", "Angora rabbit", "hamster",
    "porcupine", "fox squirrel", "marmot", "beaver", "guinea pig", "common sorrel horse",
    "zebra", "pig", "wild boar", "warthog", "hippopotamus", "ox", "water buffalo", "bison",
    "ram (adult male sheep)", "bighorn sheep", "Alpine ibex", "hartebeest", "impala (antelope)",
    "gazelle", "arabian camel", "llama", "weasel", "mink", "European polecat",
    "black-footed ferret", "otter", "skunk", "badger", "armadillo", "three-toed sloth",
    "orangutan", "gorilla", "chimpanzee", "gibbon", "siamang", "guenon", "patas monkey",
    "baboon", "macaque", "langur", "black-and-white colobus", "proboscis monkey", "marmoset",
    "white-headed capuchin", "howler monkey", "titi monkey", "Geoffroy's spider monkey",
    "common squirrel monkey", "ring-tailed lemur", "indri", "Asian elephant",
    "African bush elephant", "red panda", "giant panda", "snoek fish", "eel", "silver salmon",
    "rock beauty fish", "clownfish", "sturgeon", "gar fish", "lionfish", "pufferfish",
    "abacus", "abaya", "academic gown", "accordion", "acoustic guitar", "aircraft carrier",
    "airliner", "airship", "altar", "ambulance", "amphibious vehicle", "analog clock",
    "apiary", "apron", "trash can", "assault rifle", "backpack", "bakery", "balance beam",
    "balloon", "ballpoint pen", "Band-Aid", "banjo", "baluster / handrail", "barbell",
    "barber chair", "barbershop", "barn", "barometer", "barrel", "wheelbarrow", "baseball",
    "basketball", "bassinet", "bassoon", "swimming cap", "bath towel", "bathtub",
    "station wagon", "lighthouse", "beaker", "military hat (bearskin or shako)", "beer bottle",
    "beer glass", "bell tower", "baby bib", "tandem bicycle", "bikini", "ring binder",
    "binoculars", "birdhouse", "boathouse", "bobsleigh", "bolo tie", "poke bonnet",
    "bookcase", "bookstore", "bottle cap", "hunting bow", "bow tie", "brass memorial plaque",
    "bra", "breakwater", "breastplate", "broom", "bucket", "buckle", "bulletproof vest",
    "high-speed train", "butcher shop", "taxicab", "cauldron", "candle", "cannon", "canoe",
    "can opener", "cardigan", "car mirror", "carousel", "tool kit", "cardboard box / carton",
    "car wheel", "automated teller machine", "cassette", "cassette player", "castle",
    "catamaran", "CD player", "cello", "mobile phone", "chain", "chain-link fence",
    "chain mail", "chainsaw", "storage chest", "chiffonier", "bell or wind chime",
    "china cabinet", "Christmas stocking", "church", "movie theater", "cleaver",
    "cliff dwelling", "cloak", "clogs", "cocktail shaker", "coffee mug", "coffeemaker",
    "spiral or coil", "combination lock", "computer keyboard", "candy store",
    "container ship", "convertible", "corkscrew", "cornet", "cowboy boot", "cowboy hat",
    "cradle", "construction crane", "crash helmet", "crate", "infant bed", "Crock Pot",
    "croquet ball", "crutch", "cuirass", "dam", "desk", "desktop computer",
    "rotary dial telephone", "diaper", "digital clock", "digital watch", "dining table",
    "dishcloth", "dishwasher", "disc brake", "dock", "dog sled", "dome", "doormat",
    "drilling rig", "drum", "drumstick", "dumbbell", "Dutch oven", "electric fan",
    "electric guitar", "electric locomotive", "entertainment center", "envelope",
    "espresso machine", "face powder", "feather boa", "filing cabinet", "fireboat",
    "fire truck", "fire screen", "flagpole", "flute", "folding chair", "football helmet",
    "forklift", "fountain", "fountain pen", "four-poster bed", "freight car", "French horn",
    "frying pan", "fur coat", "garbage truck", "gas mask or respirator", "gas pump", "goblet",
    "go-kart", "golf ball", "golf cart", "gondola", "gong", "gown", "grand piano",
    "greenhouse", "radiator grille", "grocery store", "guillotine", "hair clip",
    "hair spray", "half-track", "hammer", "hamper", "hair dryer", "hand-held computer",
    "handkerchief", "hard disk drive", "harmonica", "harp", "combine harvester", "hatchet",
    "holster", "home theater", "honeycomb", "hook", "hoop skirt", "gymnastic horizontal bar",
    "horse-drawn vehicle", "hourglass", "iPod", "clothes iron", "carved pumpkin", "jeans",
    "jeep", "T-shirt", "jigsaw puzzle", "rickshaw", "joystick", "kimono", "knee pad",
    "knot", "lab coat", "ladle", "lampshade", "laptop computer", "lawn mower", "lens cap",
    "letter opener", "library", "lifeboat", "lighter", "limousine", "ocean liner",
    "lipstick", "slip-on shoe", "lotion", "music speaker", "loupe magnifying glass",
    "sawmill", "magnetic compass", "messenger bag", "mailbox", "tights", "one-piece bathing suit",
    "manhole cover", "maraca", "marimba", "mask", "matchstick", "maypole", "maze",
    "measuring cup", "medicine cabinet", "megalith", "microphone", "microwave oven",
    "military uniform", "milk can", "minibus", "miniskirt", "minivan", "missile", "mitten",
    "mixing bowl", "mobile home", "ford model t", "modem", "monastery", "monitor", "moped",
    "mortar and pestle", "graduation cap", "mosque", "mosquito net", "vespa",
    "mountain bike", "tent", "computer mouse", "mousetrap", "moving van", "muzzle",
    "metal nail", "neck brace", "necklace", "baby pacifier", "notebook computer", "obelisk",
    "oboe", "ocarina", "odometer", "oil filter", "pipe organ", "oscilloscope", "overskirt",
    "bullock cart", "oxygen mask", "product packet / packaging", "paddle", "paddle wheel",
    "padlock", "paintbrush", "pajamas", "palace", "pan flute", "paper towel", "parachute",
    "parallel bars", "park bench", "parking meter", "railroad car", "patio", "payphone",
    "pedestal", "pencil case", "pencil sharpener", "perfume", "Petri dish", "photocopier",
    "plectrum", "Pickelhaube", "picket fence", "pickup truck", "pier", "piggy bank",
    "pill bottle", "pillow", "ping-pong ball", "pinwheel", "pirate ship", "drink pitcher",
    "block plane", "planetarium", "plastic bag", "plate rack", "farm plow", "plunger",
    "Polaroid camera", "pole", "police van", "poncho", "pool table", "soda bottle",
    "plant pot", "potter's wheel", "power drill", "prayer rug", "printer", "prison",
    "missile", "projector", "hockey puck", "punching bag", "purse", "quill", "quilt",
    "race car", "racket", "radiator", "radio", "radio telescope", "rain barrel",
    "recreational vehicle", "fishing casting reel", "reflex camera", "refrigerator",
    "remote control", "restaurant", "revolver", "rifle", "rocking chair", "rotisserie",
    "eraser", "rugby ball", "ruler measuring stick", "sneaker", "safe", "safety pin",
    "salt shaker", "sandal", "sarong", "saxophone", "scabbard", "weighing scale",
    "school bus", "schooner", "scoreboard", "CRT monitor", "screw", "screwdriver",
    "seat belt", "sewing machine", "shield", "shoe store", "shoji screen / room divider",
    "shopping basket", "shopping cart", "shovel", "shower cap", "shower curtain", "ski",
    "balaclava ski mask", "sleeping bag", "slide rule", "sliding door", "slot machine",
    "snorkel", "snowmobile", "snowplow", "soap dispenser", "soccer ball", "sock",
    "solar thermal collector", "sombrero", "soup bowl", "keyboard space bar",
    "space heater", "space shuttle", "spatula", "motorboat", "spider web", "spindle",
    "sports car", "spotlight", "stage", "steam locomotive", "through arch bridge",
    "steel drum", "stethoscope", "scarf", "stone wall", "stopwatch", "stove", "strainer",
    "tram", "stretcher", "couch", "stupa", "submarine", "suit", "sundial", "sunglasses",
    "dark glasses", "sunscreen", "suspension bridge", "mop", "sweatshirt", "swim trunks / shorts",
    "swing", "electrical switch", "syringe", "table lamp", "tank", "tape player", "teapot",
    "teddy bear", "television", "tennis ball", "thatched roof", "front curtain", "thimble",
    "threshing machine", "throne", "tile roof", "toaster", "tobacco shop", "toilet seat",
    "torch", "totem pole", "tow truck", "toy store", "tractor", "semi-trailer truck", "tray",
    "trench coat", "tricycle", "trimaran", "tripod", "triumphal arch", "trolleybus",
    "trombone", "hot tub", "turnstile", "typewriter keyboard", "umbrella", "unicycle",
    "upright piano", "vacuum cleaner", "vase", "vaulted or arched ceiling", "velvet fabric",
    "vending machine", "vestment", "viaduct", "violin", "volleyball", "waffle iron",
    "wall clock", "wallet", "wardrobe", "military aircraft", "sink", "washing machine",
    "water bottle", "water jug", "water tower", "whiskey jug", "whistle", "hair wig",
    "window screen", "window shade", "Windsor tie", "wine bottle", "airplane wing", "wok",
    "wooden spoon", "wool", "split-rail fence", "shipwreck", "sailboat", "yurt", "website",
    "comic book", "crossword", "traffic or street sign", "traffic light", "dust jacket",
    "menu", "plate", "guacamole", "consomme", "hot pot", "trifle", "ice cream", "popsicle",
    "baguette", "bagel", "pretzel", "cheeseburger", "hot dog", "mashed potatoes", "cabbage",
    "broccoli", "cauliflower", "zucchini", "spaghetti squash", "acorn squash",
    "butternut squash", "cucumber", "artichoke", "bell pepper", "cardoon", "mushroom",
    "Granny Smith apple", "strawberry", "orange", "lemon", "fig", "pineapple", "banana",
    "jackfruit", "cherimoya (custard apple)", "pomegranate", "hay", "carbonara",
    "chocolate syrup", "dough", "meatloaf", "pizza", "pot pie", "burrito", "red wine",
    "espresso", "tea cup", "eggnog", "mountain", "bubble", "cliff", "coral reef", "geyser",
    "lakeshore", "promontory", "sandbar", "beach", "valley", "volcano", "baseball player",
    "bridegroom", "scuba diver", "rapeseed", "daisy", "yellow lady's slipper", "corn",
    "acorn", "rose hip", "horse chestnut seed", "coral fungus", "agaric", "gyromitra",
    "stinkhorn mushroom", "earth star fungus", "hen of the woods mushroom", "bolete",
    "corn cob", "toilet paper",
]

# Texts that exercise simple_tokenizer's cleaning: ftfy.fix_text, double
# html.unescape, whitespace collapse, lower-casing and the pre-token pattern.
SPECIAL = [
    "", " ", "   ", "\t\n", "a", "A", "photo", "a photo of a", "A PHOTO OF A", "a  photo\tof\na",
    "  leading and trailing  ", "multiple     spaces   between", "tabs\tand\nnewlines\r\nmixed",
    "non\u00a0breaking\u2003spaces\u3000ideographic", "zero\u200bwidth\u200djoiner",
    "hello, world!", "what's that?", "it's, they're, we've, I'm, you'll, he'd, don't",
    "IT'S LOUD", "rock'n'roll", "\"quoted\" text", "'single'", "(parentheses) [brackets] {braces}",
    "semi;colon:colon", "a.b.c", "e.g. i.e. etc.", "...", "?!?!", "--dash--", "under_score",
    "slash/back\\slash", "#hashtag @mention", "$100 & 50%", "1+1=2", "a*b^c~d|e`f",
    "<tag>", "</w>", "x</w>y", "<|startoftext|>", "<|endoftext|>", "<|StartOfText|> hi <|ENDOFTEXT|>",
    "0", "7", "42", "2024", "3.14159", "1,000,000", "10th", "1st 2nd 3rd", "0x1f", "a1b2c3",
    "١٢٣ arabic digits", "⅓ fraction", "²³ superscripts", "Ⅻ roman",
    "café", "naïve", "résumé", "über", "Ångström", "São Paulo", "Zürich", "crème brûlée",
    "jalapeño", "Dvořák", "Łódź", "İstanbul", "ß straße", "ΣΊΣΥΦΟΣ", "Ελληνικά",
    "Москва", "日本語のテキスト", "中文字符", "한국어", "ไทย", "हिन्दी", "עברית", "العربية",
    "e\u0301 combining acute", "n\u0303", "\u0345 ypogegrammeni", "ﬁne ﬂour ligatures", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "smart \u2018quotes\u2019 and \u201cdouble\u201d", "ellipsis\u2026", "em\u2014dash en\u2013dash",
    "🙂", "I ❤️ NY", "👍🏽 thumbs", "🇯🇵 flag", "👨‍👩‍👧 family", "🐶🐱🐭", "☃ snowman", "✓ check",
    "&amp;", "&lt;b&gt;bold&lt;/b&gt;", "&quot;quote&quot;", "&#39;apos&#39;", "&#x263A;",
    "&eacute;t&eacute;", "&nbsp;space", "&amp;amp;", "&amp;amp;amp;", "&copy; 2021", "&hellip;",
    "AT&T", "fish &chips", "&notit;", "&#128;", "&#0;", "&unknown;",
    "control\x00char", "bell\x07", "esc\x1b[31mred\x1b[0m", "c1\x85control", "\ufeffbom",
    "UPPER lower MiXeD", "camelCaseWord", "snake_case_word", "kebab-case-word",
    "a" * 40, "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
]

# ftfy's fix_encoding repairs mojibake; the Go tokenizer documents that it
# does not replicate this heuristic step. Kept apart so the Go test can report
# the difference without failing on it.
MOJIBAKE = ["cafÃ©", "naÃ¯ve", "Ã¼ber", "â€œquotedâ€\x9d", "doesnâ€™t"]


def class_names():
    """Every class name above, in a fixed order, duplicates removed."""
    seen, out = set(), []
    for group in (CALTECH101, OXFORD_PETS, OXFORD_FLOWERS, FGVC_AIRCRAFT, DTD, EUROSAT,
                  UCF101, FOOD101, SUN397, STANFORD_CARS, IMAGENET):
        for name in group:
            if name not in seen:
                seen.add(name)
                out.append(name)
    return out
